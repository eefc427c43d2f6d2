-- Configuration of the mc language server for `vim.lsp.enable('mc')`
-- (Neovim 0.11+ reads `lsp/<name>.lua` from 'runtimepath').
return {
  cmd = { 'mc', 'lsp' },
  filetypes = { 'mc' },
  root_markers = { 'main.mc', '.git' },
}
