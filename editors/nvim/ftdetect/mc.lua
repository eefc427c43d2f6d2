-- `*.mc` files are mc (Masterchef) sources.
vim.filetype.add({ extension = { mc = 'mc' } })
