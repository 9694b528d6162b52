-- Drive hybridlsp from headless Neovim (0.7 or 0.11): for each step of the plan, open a file, ask
-- for the code actions on a range, pick one by its title through vim.ui.select, and wait for its
-- effect. Writes what happened to plan.out as JSON.
--
-- HYBRIDLSP_NVIM_PLAN = {"cmd": [...], "root": "...", "out": "...",
--   "steps": [{"file": "...", "action": "Explain", "start": [row, col], "end": [row, col],
--              "expect": "shown" | "edit"}]}   (rows 1-based, columns 0-based: mark positions)
-- "shown": a window/showMessage (0.7 cannot show documents) or a result document opened by
-- window/showDocument (0.11); "edit": the buffer was edited.

vim.cmd("filetype on")
local plan = vim.fn.json_decode(os.getenv("HYBRIDLSP_NVIM_PLAN"))
local out = { version = tostring(vim.version().major) .. "." .. tostring(vim.version().minor), steps = {}, messages = {}, errors = {} }

vim.lsp.handlers["window/showMessage"] = function(_, result)
  table.insert(out.messages, result.message)
end

local function finish()
  local f = assert(io.open(plan.out, "w"))
  f:write(vim.fn.json_encode(out))
  f:close()
  vim.cmd("qa!")
end

local function request_code_actions(first, last)
  if vim.lsp.buf.range_code_action then -- Neovim 0.7
    vim.lsp.buf.range_code_action(nil, first, last)
  else
    vim.lsp.buf.code_action({ range = { start = first, ["end"] = last } })
  end
end

local function shown_document()
  local name = vim.api.nvim_buf_get_name(0)
  return name:match("%.md$") and name or nil
end

local function run()
  local client_id = vim.lsp.start_client({ name = "hybridlsp", cmd = plan.cmd, root_dir = plan.root })
  assert(client_id, "could not start the server")
  for _, step in ipairs(plan.steps) do
    vim.cmd("edit " .. vim.fn.fnameescape(step.file))
    local bufnr = vim.api.nvim_get_current_buf()
    vim.lsp.buf_attach_client(bufnr, client_id)
    assert(vim.wait(20000, function()
      local client = vim.lsp.get_client_by_id(client_id)
      return client ~= nil and client.initialized
    end, 10), "the server did not initialize")

    local record = { file = step.file, filetype = vim.bo.filetype, titles = {} }
    local picked = false
    vim.ui.select = function(items, opts, on_choice)
      local choice = nil
      for _, item in ipairs(items) do
        local title = opts.format_item(item)
        table.insert(record.titles, title)
        if choice == nil and vim.startswith(title, step.action .. " - ") then
          choice = item
        end
      end
      picked = true
      on_choice(choice)
    end

    local messages_before = #out.messages
    request_code_actions(step.start, step["end"])
    assert(vim.wait(20000, function() return picked end, 10), "no code actions arrived")
    if step.expect == "shown" then
      record.done = vim.wait(30000, function()
        return #out.messages > messages_before or shown_document() ~= nil
      end, 10)
      if shown_document() then
        record.document = { name = shown_document(), lines = vim.api.nvim_buf_get_lines(0, 0, -1, false) }
      end
    else
      record.done = vim.wait(30000, function() return vim.bo[bufnr].modified end, 10)
    end
    record.lines = vim.api.nvim_buf_get_lines(bufnr, 0, -1, false)
    table.insert(out.steps, record)
  end
end

vim.api.nvim_create_autocmd("VimEnter", {
  nested = true, -- so :edit runs the BufRead autocommands that set the filetype
  callback = function()
    local ok, err = pcall(run)
    if not ok then
      table.insert(out.errors, tostring(err))
    end
    finish()
  end,
})
