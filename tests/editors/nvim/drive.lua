-- Drive the hybridlsp plugin in headless Neovim the way a user would: open a file, put the cursor
-- somewhere, type a command, and wait for the plugin to say the run is over. Writes what happened
-- (window text, buffer lines, diagnostics, notifications) to plan.out as JSON.
--
-- HYBRIDLSP_NVIM_PLAN = {"plugin": dir, "out": file, "setup": {...},
--   "steps": [{"file": f, "cursor": [row, col], "command": "HybridExplain", "cancel": bool}]}
vim.g.loaded_python3_provider = 0
vim.cmd("filetype on")
local plan = vim.fn.json_decode(os.getenv("HYBRIDLSP_NVIM_PLAN"))
vim.opt.runtimepath:prepend(plan.plugin)

local out = { version = tostring(vim.version().major) .. "." .. tostring(vim.version().minor),
  steps = {}, notifications = {}, errors = {} }
vim.notify = function(msg) table.insert(out.notifications, msg) end

local function finish()
  out.messages = vim.api.nvim_exec("messages", true)
  local f = assert(io.open(plan.out, "w"))
  f:write(vim.fn.json_encode(out))
  f:close()
  vim.cmd("qa!")
end

local function attached(bufnr)
  local compat = require("hybridlsp.compat")
  local client = compat.clients(bufnr, "hybridlsp")[1]
  return client ~= nil and client.initialized
end

local function run()
  local hybridlsp = require("hybridlsp")
  local runs = require("hybridlsp.run")
  hybridlsp.setup(plan.setup)
  for _, step in ipairs(plan.steps) do
    local record = { command = step.command }
    if step.file then
      vim.cmd("edit " .. vim.fn.fnameescape(step.file))
      record.filetype = vim.bo.filetype
      assert(vim.wait(20000, function() return attached(0) end, 10), "the server did not attach")
    end
    local bufnr = vim.api.nvim_get_current_buf()
    if step.cursor then
      vim.api.nvim_win_set_cursor(0, step.cursor)
    end
    if step.code_actions then -- the editor's own code action menu, served by the same client
      record.titles = {}
      vim.ui.select = function(items, opts, on_choice)
        for _, item in ipairs(items) do
          table.insert(record.titles, (opts.format_item(item))) -- 0.7 also returns a gsub count
        end
        on_choice(nil)
      end
      local r = step.code_actions
      if vim.fn.has("nvim-0.8") == 1 then
        vim.lsp.buf.code_action({ range = { start = r[1], ["end"] = r[2] } })
      else
        vim.lsp.buf.range_code_action(nil, r[1], r[2])
      end
      record.done = vim.wait(20000, function() return #record.titles > 0 end, 10)
      table.insert(out.steps, record)
      goto continue
    end
    local before = runs.last
    vim.cmd(step.command)
    local current = runs.current
    if step.cancel then
      assert(vim.wait(20000, function() return current and current.chunks >= 2 end, 10), "nothing streamed")
      -- the cancel key, typed in the output window (which has the focus)
      vim.api.nvim_feedkeys(vim.api.nvim_replace_termcodes("<C-c>", true, false, true), "x", false)
    end
    if step.wait == false then
      table.insert(out.steps, record)
      goto continue
    end
    record.done = vim.wait(30000, function() return runs.last ~= before end, 10)
    local r = runs.last or {}
    record.status, record.chunks = r.status, r.chunks
    record.window = r.win and table.concat(r.win:lines(), "\n")
    record.window_open = r.win and r.win:valid() or false
    record.result = r.result
    record.lines = vim.api.nvim_buf_get_lines(bufnr, 0, -1, false)
    record.diagnostics = {}
    for _, d in ipairs(vim.diagnostic.get(bufnr, { namespace = runs.namespace })) do
      table.insert(record.diagnostics, { lnum = d.lnum, severity = d.severity, message = d.message, source = d.source })
    end
    record.statusline = hybridlsp.statusline()
    if r.win then
      r.win:close()
    end
    table.insert(out.steps, record)
    ::continue::
  end
end

vim.api.nvim_create_autocmd("VimEnter", {
  nested = true, -- so :edit runs the autocommands that set the filetype and attach the client
  callback = function()
    local ok, err = xpcall(run, debug.traceback)
    if not ok then
      table.insert(out.errors, tostring(err))
    end
    -- feedback is a notification's round trip: give it a moment to land
    vim.wait(3000, function()
      for _, m in ipairs(out.notifications) do
        if m:find("recorded") or m:find("feedback failed") then return true end
      end
      return not plan.expect_feedback
    end, 10)
    finish()
  end,
})
