-- One action through the server's `hybridlsp/run` request: its answer streams into the output
-- window through `$/progress` (each report's message is a delta; an empty one means a fallback
-- restarted the answer), and the result lands where the action puts it.
local compat = require("hybridlsp.compat")
local window = require("hybridlsp.window")

local M = { runs = {}, current = nil, last = nil }

local LABELS = { complete = "Complete", explain = "Explain", review = "Review", ["commit-message"] = "Commit message" }
local SEVERITY = { error = 1, warning = 2, info = 3, hint = 4 } -- vim.diagnostic.severity
local CLOUD = { openai = true, anthropic = true }
local REQUEST_CANCELLED = -32800
local TOKEN_PREFIX = "hybridlsp-nvim-"

M.namespace = vim.api.nvim_create_namespace("hybridlsp")
local seq = 0

local function notify(msg, level)
  vim.notify("hybridlsp: " .. msg, level or vim.log.levels.INFO)
end

local function done(run)
  M.runs[run.token] = nil
  M.last = run
  if M.current == run then
    M.current = nil
  end
  vim.api.nvim_exec_autocmds("User", { pattern = "HybridlspDone", modeline = false })
end

local function money(x)
  return type(x) == "number" and string.format("$%.4f", x) or "unpriced"
end

local function footer(result)
  local by, u, d = result.answered_by or result.decision, result.usage, result.decision
  local where = CLOUD[by.backend] and "cloud" or "local"
  local lines = {
    string.format("*%s %s %s (tier %s) - %d in / %d out tokens - %s (all-cloud %s)*", where, by.backend,
      by.model, tostring(by.tier), u.input_tokens or 0, u.output_tokens or 0, money(u.cost_usd),
      money(u.baseline_cost_usd)),
  }
  if d.reasons and #d.reasons > 0 then
    table.insert(lines, "*why: " .. table.concat(d.reasons, "; ") .. "*")
  end
  for _, f in ipairs(result.fallbacks or {}) do
    table.insert(lines, string.format("*fell back from %s to %s: %s*", tostring(f.from), tostring(f.to), f.reason))
  end
  table.insert(lines, "*request " .. result.request_id .. " - rate it with :HybridFeedback good|bad*")
  return lines
end

local function insert(run, at, text)
  local edit = { range = { start = at, ["end"] = at }, newText = text }
  vim.lsp.util.apply_text_edits({ edit }, run.bufnr, run.encoding)
end

local function show_findings(run, findings)
  local diags, lines = {}, {}
  for _, f in ipairs(findings) do
    table.insert(diags, {
      lnum = f.line, end_lnum = f.end_line, col = 0, severity = SEVERITY[f.severity] or 2,
      message = f.message, source = "hybridlsp",
    })
    local fix = type(f.fix) == "string" and ("\n  fix: `" .. f.fix .. "`") or ""
    table.insert(lines, string.format("- line %d **%s**: %s%s", f.line + 1, f.severity, f.message, fix))
  end
  vim.diagnostic.set(M.namespace, run.bufnr, diags)
  return #lines > 0 and table.concat(lines, "\n") or "No problems found."
end

-- Where each action's answer goes; returns true when the output window has nothing left to show.
local deliver = {
  complete = function(run, result)
    insert(run, run.params.range["end"], result.text)
    return true
  end,
  review = function(run, result)
    run.win:set(show_findings(run, result.findings or {}), footer(result))
  end,
  ["commit-message"] = function(run, result)
    if vim.bo[run.bufnr].filetype == "gitcommit" then
      insert(run, { line = 0, character = 0 }, vim.trim(result.text) .. "\n")
      return true
    end
    run.win:set(vim.trim(result.text), footer(result))
  end,
  explain = function(run, result)
    run.win:set(vim.trim(result.text), footer(result))
  end,
}

local function finish(run, err, result)
  if run.status ~= "running" then
    return -- cancelled: the window already says so
  end
  if err then
    run.status = err.code == REQUEST_CANCELLED and "cancelled" or "error"
    run.error = err.message
    run.win:set(run.win.text, { "*" .. run.status .. ": " .. tostring(err.message) .. "*" })
    notify(LABELS[run.action] .. " failed: " .. tostring(err.message), vim.log.levels.ERROR)
  else
    run.status, run.result = "done", result
    if deliver[run.action](run, result) then
      run.win:close()
      local by = result.answered_by or result.decision
      notify(string.format("%s by %s (tier %s), %s", LABELS[run.action], by.model, tostring(by.tier),
        money(result.usage.cost_usd)))
    end
  end
  done(run)
end

--- `$/progress` for this client: our runs' tokens feed their windows, the rest go to the default.
function M.on_progress(err, result, ctx, config)
  local run = result and M.runs[result.token]
  if not run then
    if result and tostring(result.token):find(TOKEN_PREFIX, 1, true) == 1 then
      return -- the end of a run cancelled here
    end
    return vim.lsp.handlers["$/progress"](err, result, ctx, config)
  end
  local value = result.value or {}
  if value.kind == "report" and type(value.message) == "string" then
    if value.message == "" then
      run.win:set("") -- a fallback restarts the answer on another tier
    else
      run.chunks = run.chunks + 1
      run.win:append(value.message)
    end
  end
end

--- Cancel a running action (the last one started by default): the server closes the upstream.
function M.cancel(run)
  run = run or M.current
  if not run or run.status ~= "running" then
    return
  end
  run.status = "cancelled"
  local client = compat.get_client(run.client_id)
  if client and run.request_id then
    compat.cancel_request(client, run.request_id)
  end
  run.win:set(run.win.text, { "*cancelled*" })
  done(run)
end

local function client_for(bufnr)
  return compat.clients(bufnr, "hybridlsp")[1]
end

local function range_for(client, opts)
  if opts.line1 then -- whole lines; the end is the start of the line after
    return { start = { line = opts.line1 - 1, character = 0 }, ["end"] = { line = opts.line2, character = 0 } }
  end
  local pos = vim.lsp.util.make_position_params(0, client.offset_encoding).position
  if opts.action == "complete" then -- continue from the end of the cursor's line
    local line = vim.api.nvim_get_current_line()
    pos.character = vim.lsp.util.character_offset(0, pos.line, #line, client.offset_encoding)
  end
  return { start = pos, ["end"] = pos } -- an empty range: the server takes the enclosing function
end

--- Run `opts.action` on the current buffer; `opts.line1`/`line2` for a range, `opts.prompt`.
function M.run(opts)
  local config = require("hybridlsp").config
  local bufnr = vim.api.nvim_get_current_buf()
  local client = client_for(bufnr)
  if not client then
    notify("not attached to this buffer; add its filetype '" .. vim.bo[bufnr].filetype
      .. "' to setup{ filetypes = ... }", vim.log.levels.WARN)
    return
  end
  seq = seq + 1
  local params = {
    action = opts.action,
    textDocument = { uri = vim.uri_from_bufnr(bufnr) },
    workDoneToken = string.format("%s%d-%d", TOKEN_PREFIX, vim.fn.getpid(), seq),
  }
  if opts.action ~= "commit-message" or opts.line1 then
    params.range = range_for(client, opts)
  end
  if opts.prompt and opts.prompt ~= "" then
    params.prompt = opts.prompt
  end
  local run = {
    action = opts.action, bufnr = bufnr, client_id = client.id, encoding = client.offset_encoding,
    params = params, token = params.workDoneToken, status = "running", chunks = 0,
  }
  run.win = window.open(LABELS[opts.action], "markdown", {
    [config.keys.cancel] = function() M.cancel(run) end,
    [config.keys.close] = function()
      M.cancel(run)
      run.win:close()
    end,
  })
  M.runs[run.token], M.current = run, run
  local ok, id = compat.request(client, "hybridlsp/run", params, function(err, result)
    finish(run, err, result)
  end, bufnr)
  if not ok then
    run.status = "error"
    run.win:set("", { "*the server is not running*" })
    done(run)
    return run
  end
  run.request_id = id
  return run
end

--- `hybridlsp.feedback` on the last finished request.
function M.feedback(verdict, note)
  local run = M.last
  local client = run and compat.get_client(run.client_id)
  if not (run and run.result and client) then
    notify("no finished request to rate yet", vim.log.levels.WARN)
    return
  end
  local args = { request_id = run.result.request_id, verdict = verdict, note = note ~= "" and note or nil }
  compat.request(client, "workspace/executeCommand", { command = "hybridlsp.feedback", arguments = { args } },
    function(err)
      notify(err and ("feedback failed: " .. err.message) or ("recorded '" .. verdict .. "'"))
    end, run.bufnr)
end

--- `hybridlsp report` in the output window.
function M.report(cmd)
  local run = { action = "report", token = "report", status = "running" }
  run.win = window.open("hybridlsp report", "text", { q = function() run.win:close() end })
  local out = {}
  local function collect(_, data)
    vim.list_extend(out, data)
  end
  local ok, job = pcall(vim.fn.jobstart, cmd, {
    stdout_buffered = true, stderr_buffered = true, on_stdout = collect, on_stderr = collect,
    on_exit = function(_, code)
      run.status = code == 0 and "done" or "error"
      run.win:set(vim.trim(table.concat(out, "\n")))
      done(run)
    end,
  })
  if not ok or job <= 0 then
    run.status = "error"
    run.win:set("could not run " .. table.concat(cmd, " ") .. ": " .. tostring(job))
    done(run)
  end
  return run
end

--- For a statusline: the last answer's model and cost.
function M.statusline()
  local r = M.last and M.last.result
  if not r then
    return ""
  end
  local by = r.answered_by or r.decision
  return string.format("%s t%s %s", by.model, tostring(by.tier), money(r.usage.cost_usd))
end

return M
