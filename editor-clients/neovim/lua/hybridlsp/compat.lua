-- The few client APIs that changed between Neovim 0.7 and 0.11, in one place.
local M = {}

local has_011 = vim.fn.has("nvim-0.11") == 1

-- 0.11 made client functions methods (`client:request(...)`) and deprecated the dot form.
local function call(client, name, ...)
  if has_011 then
    return client[name](client, ...)
  end
  return client[name](...)
end

function M.request(client, method, params, handler, bufnr)
  return call(client, "request", method, params, handler, bufnr)
end

function M.cancel_request(client, id)
  return call(client, "cancel_request", id)
end

function M.get_client(id)
  return vim.lsp.get_client_by_id(id)
end

function M.clients(bufnr, name)
  local found = {}
  local all = vim.lsp.get_clients and vim.lsp.get_clients({ bufnr = bufnr }) or vim.lsp.buf_get_clients(bufnr)
  for _, client in pairs(all) do
    if client.name == name then
      table.insert(found, client)
    end
  end
  return found
end

-- 0.8+ has vim.lsp.start, which reuses a client with the same name and root_dir; on 0.7 keep one
-- client per root and attach buffers to it.
local by_root = {}

function M.start(config, bufnr)
  if vim.lsp.start then
    return vim.lsp.start(config, { bufnr = bufnr })
  end
  local id = by_root[config.root_dir]
  local client = id and vim.lsp.get_client_by_id(id)
  if not client or client.is_stopped() then
    id = vim.lsp.start_client(config)
    by_root[config.root_dir] = id
  end
  if id then
    vim.lsp.buf_attach_client(bufnr, id)
  end
  return id
end

return M
