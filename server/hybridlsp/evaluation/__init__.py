"""Routing evaluation, with no model call: `routing` scores decisions on prompts of known per-tier
quality (`hybridlsp eval-routing`), `audit` prices an export of past calls as routed
(`hybridlsp audit`), `loso` gives the leave-one-source-out figures (`make eval-routing`)."""
