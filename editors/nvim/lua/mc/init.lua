-- Neovim support for mc (Masterchef): language server, tree-sitter parser
-- and highlighting.
--
--   require('mc').setup({
--     cmd = { 'mc', 'lsp' },   -- how to start the language server
--     lsp = true,              -- configure and enable the language server
--     treesitter = true,       -- load the parser and start highlighting
--   })
--
-- Filetype detection (ftdetect/mc.lua), buffer options (ftplugin/mc.lua) and
-- the LSP defaults (lsp/mc.lua) work as soon as this folder is on
-- 'runtimepath'; setup() adds the rest.

local M = {}

local uv = vim.uv or vim.loop

-- editors/nvim/lua/mc/init.lua -> editors/
local function editors_dir()
  local source = debug.getinfo(1, 'S').source:sub(2)
  return vim.fn.fnamemodify(source, ':p:h:h:h:h')
end

--- The tree-sitter grammar folder shipped next to this plugin.
function M.grammar_dir()
  return editors_dir() .. '/tree-sitter-mc'
end

local function parser_name()
  return vim.fn.has('win32') == 1 and 'mc.dll' or 'mc.so'
end

--- Where build_parser() puts the compiled parser by default.
function M.default_parser_path()
  return vim.fn.stdpath('data') .. '/site/parser/' .. parser_name()
end

local function run(cmd, cwd)
  local result = vim.system(cmd, { cwd = cwd, text = true }):wait()
  if result.code ~= 0 then
    return false, table.concat(cmd, ' ') .. ' failed: ' .. (result.stderr or '')
  end
  return true
end

--- Compiles the tree-sitter parser with the C compiler into `path` (default:
--- the `parser/` folder of stdpath('data')/site, which is on 'runtimepath').
--- Runs `tree-sitter generate` first when src/parser.c is missing.
--- @param path string|nil
--- @return boolean ok, string|nil error
function M.build_parser(path)
  path = path or M.default_parser_path()
  local dir = M.grammar_dir()
  if not uv.fs_stat(dir .. '/src/parser.c') then
    if vim.fn.executable('tree-sitter') ~= 1 then
      return false, 'src/parser.c is missing and the tree-sitter CLI is not on PATH (run editors/check)'
    end
    local ok, err = run({ 'tree-sitter', 'generate' }, dir)
    if not ok then
      return false, err
    end
  end
  local cc = vim.env.CC or 'cc'
  if vim.fn.executable(cc) ~= 1 then
    return false, 'no C compiler: set $CC or install cc'
  end
  vim.fn.mkdir(vim.fn.fnamemodify(path, ':h'), 'p')
  return run({
    cc, '-shared', '-fPIC', '-O2', '-I', 'src',
    'src/parser.c', 'src/scanner.c', '-o', path,
  }, dir)
end

local function read_file(path)
  local file = io.open(path, 'r')
  if not file then
    return nil
  end
  local text = file:read('*a')
  file:close()
  return text
end

--- Makes the grammar's queries available unless 'runtimepath' already has
--- queries/mc/ (from nvim-treesitter or the user).
local function register_queries()
  for _, kind in ipairs({ 'highlights', 'locals', 'folds' }) do
    if #vim.api.nvim_get_runtime_file('queries/mc/' .. kind .. '.scm', false) == 0 then
      local text = read_file(M.grammar_dir() .. '/queries/' .. kind .. '.scm')
      if text then
        vim.treesitter.query.set('mc', kind, text)
      end
    end
  end
end

--- Tells nvim-treesitter how to install the parser (`:TSInstall mc`), for
--- both its `main` and its older `master` branch.
local function register_with_nvim_treesitter()
  local has_main = pcall(require, 'nvim-treesitter.config')
  if has_main then
    local function add()
      require('nvim-treesitter.parsers').mc = {
        install_info = { path = M.grammar_dir(), generate = true, queries = 'queries' },
      }
    end
    add()
    -- nvim-treesitter reloads its parser table on :TSUpdate.
    vim.api.nvim_create_autocmd('User', { pattern = 'TSUpdate', callback = add })
    return
  end
  local ok, parsers = pcall(require, 'nvim-treesitter.parsers')
  if ok and parsers.get_parser_configs then
    parsers.get_parser_configs().mc = {
      install_info = {
        url = M.grammar_dir(),
        files = { 'src/parser.c', 'src/scanner.c' },
        requires_generate_from_grammar = true,
      },
      filetype = 'mc',
    }
  end
end

--- Loads the compiled parser: from 'runtimepath' (`parser/mc.so`, where
--- nvim-treesitter and build_parser() put it) or from `path`.
--- @return boolean
function M.load_parser(path)
  local ok, loaded = pcall(vim.treesitter.language.add, 'mc', path and { path = path } or nil)
  if ok and loaded == true then
    return true
  end
  -- Neovim does not see a site/parser/ folder created after startup (the
  -- first build_parser()), so look there by path too.
  local default = M.default_parser_path()
  if not path and uv.fs_stat(default) then
    ok, loaded = pcall(vim.treesitter.language.add, 'mc', { path = default })
    return ok and loaded == true
  end
  return false
end

local function setup_treesitter(opts)
  vim.treesitter.language.register('mc', 'mc')
  register_with_nvim_treesitter()
  register_queries()
  vim.api.nvim_create_autocmd('FileType', {
    group = vim.api.nvim_create_augroup('mc_treesitter', { clear = true }),
    pattern = 'mc',
    callback = function(args)
      if M.load_parser(opts.parser_path) then
        vim.treesitter.start(args.buf, 'mc')
      end
    end,
  })
end

local function setup_lsp(opts)
  local config = { cmd = opts.cmd }
  if vim.lsp.config then
    vim.lsp.config('mc', config)
    vim.lsp.enable('mc')
    return
  end
  -- Neovim 0.10: start a client per buffer; vim.lsp.start reuses it.
  vim.api.nvim_create_autocmd('FileType', {
    group = vim.api.nvim_create_augroup('mc_lsp', { clear = true }),
    pattern = 'mc',
    callback = function(args)
      local root = vim.fs.root(args.buf, { 'main.mc', '.git' })
      vim.lsp.start({ name = 'mc', cmd = opts.cmd, root_dir = root }, { bufnr = args.buf })
    end,
  })
end

--- @param opts table|nil { cmd = {…}, lsp = bool, treesitter = bool, parser_path = string }
function M.setup(opts)
  opts = vim.tbl_extend('force', {
    cmd = { 'mc', 'lsp' },
    lsp = true,
    treesitter = true,
    parser_path = nil,
  }, opts or {})
  -- In case the plugin was added to 'runtimepath' after startup.
  vim.filetype.add({ extension = { mc = 'mc' } })
  if opts.treesitter then
    setup_treesitter(opts)
  end
  if opts.lsp then
    setup_lsp(opts)
  end
end

return M
