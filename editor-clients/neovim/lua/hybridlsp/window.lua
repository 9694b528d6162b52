-- The output window: a floating scratch buffer that text streams into.
local M = {}

local Window = {}
Window.__index = Window

local function size(lines)
  local width = math.max(40, math.min(100, vim.o.columns - 8))
  local height = math.max(3, math.min(#lines, vim.o.lines - 6))
  return width, height
end

--- Open a window titled `title`; `keys` maps a lhs to a function, buffer-local.
function M.open(title, filetype, keys)
  local self = setmetatable({ title = title, text = "", footer = {} }, Window)
  self.buf = vim.api.nvim_create_buf(false, true)
  vim.bo[self.buf].bufhidden = "wipe"
  vim.bo[self.buf].filetype = filetype or "markdown"
  local width, height = size({ "" })
  self.win = vim.api.nvim_open_win(self.buf, true, {
    relative = "editor",
    row = 1,
    col = math.floor((vim.o.columns - width) / 2),
    width = width,
    height = height,
    style = "minimal",
    border = "rounded",
  })
  vim.wo[self.win].wrap = true
  for lhs, fn in pairs(keys or {}) do
    vim.keymap.set("n", lhs, fn, { buffer = self.buf, nowait = true, silent = true })
  end
  self:render()
  return self
end

function Window:valid()
  return self.win ~= nil and vim.api.nvim_win_is_valid(self.win)
end

function Window:lines()
  local out = { "# " .. self.title, "" }
  vim.list_extend(out, vim.split(self.text, "\n", { plain = true }))
  if #self.footer > 0 then
    vim.list_extend(out, { "", "---" })
    vim.list_extend(out, self.footer)
  end
  return out
end

function Window:render()
  if not self:valid() then
    return
  end
  local lines = self:lines()
  vim.bo[self.buf].modifiable = true
  vim.api.nvim_buf_set_lines(self.buf, 0, -1, false, lines)
  vim.bo[self.buf].modifiable = false
  local width, height = size(lines)
  vim.api.nvim_win_set_config(self.win, { relative = "editor", row = 1,
    col = math.floor((vim.o.columns - width) / 2), width = width, height = height })
end

function Window:append(delta)
  self.text = self.text .. delta
  self:render()
end

function Window:set(text, footer)
  self.text = text
  self.footer = footer or self.footer
  self:render()
end

function Window:close()
  if self:valid() then
    vim.api.nvim_win_close(self.win, true)
  end
end

return M
