-- hybridlsp for Neovim 0.7+: starts `hybridlsp serve` for the configured filetypes and gitcommit
-- buffers, and adds :HybridExplain, :HybridReview, :HybridComplete, :HybridCommitMsg,
-- :HybridReport, :HybridCancel and :HybridFeedback. The server does the work; this wires it.
local compat = require("hybridlsp.compat")
local run = require("hybridlsp.run")

local M = {}

local defaults = {
  cmd = { "hybridlsp", "serve" },
  report_cmd = nil, -- default: `cmd` with "serve" replaced by "report"
  filetypes = {
    "python", "javascript", "javascriptreact", "typescript", "typescriptreact",
    "go", "rust", "java", "c", "cpp", "lua", "sh",
  },
  settings = {}, -- the server's settings (`hybridlsp.config`), sent as initializationOptions
  keys = { cancel = "<C-c>", close = "q" }, -- in the output window
}

M.config = vim.deepcopy(defaults)

local function root_dir(bufnr)
  local path = vim.api.nvim_buf_get_name(bufnr)
  local dir = path ~= "" and vim.fn.fnamemodify(path, ":p:h") or vim.fn.getcwd()
  local repo = (dir .. "/"):match("^(.-)/%.git/") -- COMMIT_EDITMSG and friends
  if repo then
    return repo
  end
  local git = vim.fn.finddir(".git", dir .. ";")
  if git ~= "" then
    return vim.fn.fnamemodify(git, ":p:h:h")
  end
  git = vim.fn.findfile(".git", dir .. ";") -- a worktree
  if git ~= "" then
    return vim.fn.fnamemodify(git, ":p:h")
  end
  return vim.fn.getcwd()
end

local warned = false

function M.attach(bufnr)
  bufnr = (bufnr == nil or bufnr == 0) and vim.api.nvim_get_current_buf() or bufnr
  if vim.bo[bufnr].buftype ~= "" then
    return nil
  end
  local cfg = M.config
  if vim.fn.executable(cfg.cmd[1]) == 0 then
    if not warned then
      warned = true
      vim.notify("hybridlsp: '" .. cfg.cmd[1] .. "' not found; `pip install hybridlsp` or set "
        .. "require('hybridlsp').setup{ cmd = {...} }", vim.log.levels.WARN)
    end
    return nil
  end
  local settings = next(cfg.settings) and cfg.settings or nil
  return compat.start({
    name = "hybridlsp",
    cmd = cfg.cmd,
    root_dir = root_dir(bufnr),
    init_options = settings,
    settings = settings and { hybridlsp = settings } or nil,
    handlers = { ["$/progress"] = run.on_progress },
  }, bufnr)
end

local function report_cmd()
  if M.config.report_cmd then
    return M.config.report_cmd
  end
  local cmd = vim.deepcopy(M.config.cmd)
  if cmd[#cmd] == "serve" then
    cmd[#cmd] = "report"
  else
    table.insert(cmd, "report")
  end
  return cmd
end

local ACTIONS = {
  HybridExplain = "explain",
  HybridReview = "review",
  HybridComplete = "complete",
  HybridCommitMsg = "commit-message",
}

local function commands()
  for name, action in pairs(ACTIONS) do
    vim.api.nvim_create_user_command(name, function(o)
      local lines = o.range > 0 and { o.line1, o.line2 } or {}
      run.run({ action = action, line1 = lines[1], line2 = lines[2], prompt = o.args })
    end, { range = true, nargs = "*", desc = "hybridlsp: " .. action .. " (optional words: a prompt)" })
  end
  vim.api.nvim_create_user_command("HybridCancel", function() run.cancel() end, { desc = "hybridlsp: cancel" })
  vim.api.nvim_create_user_command("HybridReport", function() run.report(report_cmd()) end,
    { desc = "hybridlsp: usage, spend and savings" })
  vim.api.nvim_create_user_command("HybridFeedback", function(o)
    local verdict, note = o.args:match("^(%S+)%s*(.*)$")
    if verdict ~= "good" and verdict ~= "bad" then
      vim.notify("hybridlsp: :HybridFeedback good|bad [note]", vim.log.levels.WARN)
      return
    end
    run.feedback(verdict, note)
  end, { nargs = "+", desc = "hybridlsp: rate the last answer" })
end

function M.setup(opts)
  opts = opts or {}
  M.config = vim.tbl_deep_extend("force", vim.deepcopy(defaults), opts)
  -- lists replace the defaults rather than merging into them by index
  for _, key in ipairs({ "cmd", "report_cmd", "filetypes" }) do
    if opts[key] then
      M.config[key] = opts[key]
    end
  end
  local filetypes = vim.list_extend({ "gitcommit" }, M.config.filetypes)
  local group = vim.api.nvim_create_augroup("hybridlsp", { clear = true })
  vim.api.nvim_create_autocmd("FileType", {
    group = group,
    pattern = filetypes,
    callback = function(args) M.attach(args.buf) end,
  })
  commands()
  -- buffers opened before setup()
  for _, bufnr in ipairs(vim.api.nvim_list_bufs()) do
    if vim.api.nvim_buf_is_loaded(bufnr) and vim.tbl_contains(filetypes, vim.bo[bufnr].filetype) then
      M.attach(bufnr)
    end
  end
end

M.cancel = run.cancel
M.statusline = run.statusline

return M
