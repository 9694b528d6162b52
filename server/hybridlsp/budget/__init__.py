"""Cloud spend caps: `status` says where the spend stands against them (pure), `guard` reserves
room under them for requests in flight (in the shared ledger)."""
