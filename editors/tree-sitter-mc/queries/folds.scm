; Foldable regions (Neovim: foldexpr = v:lua.vim.treesitter.foldexpr()).

[
  (block)
  (field_block)
  (record)
  (record_type)
  (list)
  (argument_list)
  (resource_declaration)
  (policy_declaration)
  (block_comment)
] @fold

(string "\"\"\"") @fold
