-- Headless check of the Neovim setup, run by editors/check:
--   MC_EDITORS=… MC_CHECK_CACHE=… nvim --headless --clean -u editors/nvim/test/check.lua
-- Loads the plugin the way a user does (on 'runtimepath' before startup),
-- opens an mc file and checks filetype, buffer options, the LSP
-- configuration and tree-sitter highlighting with the real parser.
-- With MC_BIN set to an `mc` binary, also checks that `mc lsp` attaches.

local editors = assert(vim.env.MC_EDITORS, 'MC_EDITORS is not set')
local cache = assert(vim.env.MC_CHECK_CACHE, 'MC_CHECK_CACHE is not set')
local site = cache .. '/nvim-site'

vim.opt.runtimepath:prepend(editors .. '/nvim')
-- Like stdpath('data')/site, the folder exists before Neovim starts.
vim.fn.mkdir(site .. '/parser', 'p')
vim.opt.runtimepath:append(site)
-- What a default Neovim does at startup; `--clean` with `-u` may skip it.
vim.cmd('filetype plugin indent on')

local failures = 0
local function report(ok, what, detail)
  if ok then
    io.stdout:write('ok: ' .. what .. '\n')
  else
    failures = failures + 1
    io.stdout:write('FAIL: ' .. what .. (detail and (': ' .. detail) or '') .. '\n')
  end
end

local function check_eq(actual, expected, what)
  report(vim.deep_equal(actual, expected), what,
    'expected ' .. vim.inspect(expected) .. ', got ' .. vim.inspect(actual))
end

local function mtime(path)
  local stat = vim.uv.fs_stat(path)
  return stat and stat.mtime.sec * 1e9 + stat.mtime.nsec or nil
end

-- The capture names tree-sitter highlighting gives the text at (row, col).
local function captures_at(buf, row, col)
  local names = {}
  for _, capture in ipairs(vim.treesitter.get_captures_at_pos(buf, row, col)) do
    names[#names + 1] = capture.capture
  end
  return names
end

local function run()
  local mc = require('mc')

  -- Filetype detection comes from ftdetect/mc.lua alone, before setup().
  check_eq(vim.filetype.match({ filename = '/srv/project/main.mc' }), 'mc', 'ftdetect: *.mc is mc')

  -- The parser, compiled as a user would with build_parser(); reused while
  -- it is newer than the generated sources.
  local parser_path = site .. '/parser/mc.so'
  local grammar = mc.grammar_dir()
  local built = mtime(parser_path)
  if not built or built < mtime(grammar .. '/src/parser.c') or built < mtime(grammar .. '/src/scanner.c') then
    local ok, err = mc.build_parser(parser_path)
    report(ok, 'build_parser() compiles the parser', err)
  end

  mc.setup()

  -- LSP configuration: lsp/mc.lua merged with setup().
  local config = vim.lsp.config.mc
  check_eq(config.cmd, { 'mc', 'lsp' }, 'lsp: default command is `mc lsp`')
  check_eq(config.filetypes, { 'mc' }, 'lsp: filetypes')
  check_eq(config.root_markers, { 'main.mc', '.git' }, 'lsp: root markers')
  if vim.lsp.is_enabled then
    report(vim.lsp.is_enabled('mc'), 'lsp: enabled')
  end

  local sample = editors .. '/tree-sitter-mc/test/highlight/sample.mc'
  local mc_bin = vim.env.MC_BIN
  if mc_bin and mc_bin ~= '' then
    mc.setup({ cmd = { mc_bin, 'lsp' } })
    check_eq(vim.lsp.config.mc.cmd, { mc_bin, 'lsp' }, 'lsp: setup({ cmd }) overrides the command')
  end

  vim.cmd.edit(vim.fn.fnameescape(sample))
  local buf = vim.api.nvim_get_current_buf()

  check_eq(vim.bo[buf].filetype, 'mc', 'filetype of an opened .mc file')
  check_eq(vim.bo[buf].commentstring, '// %s', 'ftplugin: commentstring')
  check_eq(vim.bo[buf].shiftwidth, 2, 'ftplugin: shiftwidth')

  -- Tree-sitter: the FileType autocmd of setup() started highlighting.
  report(vim.treesitter.highlighter.active[buf] ~= nil, 'tree-sitter highlighting is active')
  local ok, parser = pcall(vim.treesitter.get_parser, buf, 'mc')
  report(ok and parser ~= nil, 'tree-sitter parser loads', not ok and tostring(parser) or nil)
  if ok and parser then
    local tree = parser:parse()[1]
    report(not tree:root():has_error(), 'sample parses without errors')
    -- Line 1: `import "roles/web.mc" as web`.
    check_eq(captures_at(buf, 0, 0), { 'keyword.import' }, 'highlight: import keyword')
    check_eq(captures_at(buf, 0, 8), { 'string' }, 'highlight: import path')
    check_eq(captures_at(buf, 0, 25), { 'module' }, 'highlight: import alias')
    -- `let http_port: Int = 8080`
    local lines = vim.api.nvim_buf_get_lines(buf, 0, -1, false)
    for row, line in ipairs(lines) do
      if line:find('^let http_port') then
        check_eq(captures_at(buf, row - 1, line:find('Int') - 1), { 'type.builtin' }, 'highlight: builtin type')
        check_eq(captures_at(buf, row - 1, line:find('8080') - 1), { 'number' }, 'highlight: number')
      end
      if line:find('^resource file') then
        -- vim.treesitter.foldexpr() reads the folds query.
        check_eq(vim.treesitter.foldexpr(row), '>1', 'folds: a resource declaration opens a fold')
      end
      local interp = line:find('%${name}')
      if interp then
        -- Inside `"/bin/${name}"`: the string, then the embedded name.
        check_eq(captures_at(buf, row - 1, interp - 1), { 'string', 'punctuation.special' }, 'highlight: ${ in a string')
        check_eq(captures_at(buf, row - 1, interp + 1), { 'string', 'variable' }, 'highlight: interpolated name')
      end
    end
  end

  if mc_bin and mc_bin ~= '' then
    local attached = vim.wait(10000, function()
      local clients = vim.lsp.get_clients({ bufnr = buf, name = 'mc' })
      return #clients > 0 and clients[1].initialized == true
    end, 50)
    report(attached, 'lsp: `mc lsp` attaches to the buffer')
    -- The sample imports a module that does not exist: the server's
    -- diagnostic must reach the buffer, on the import line.
    local diagnosed = vim.wait(10000, function()
      for _, diagnostic in ipairs(vim.diagnostic.get(buf)) do
        if diagnostic.lnum == 0 and diagnostic.message:find('roles/web.mc', 1, true) then
          return true
        end
      end
      return false
    end, 50)
    report(diagnosed, 'lsp: diagnostics of `mc lsp` reach the buffer',
      vim.inspect(vim.diagnostic.get(buf)))
  else
    io.stdout:write('note: MC_BIN not set, LSP attach not checked\n')
  end

  io.stdout:write(string.format('%d failed\n', failures))
  vim.cmd(failures == 0 and 'qall!' or 'cquit 1')
end

vim.api.nvim_create_autocmd('VimEnter', {
  once = true,
  -- Let :edit run the FileType autocommands, as when a user opens a file.
  nested = true,
  callback = function()
    local ok, err = xpcall(run, debug.traceback)
    if not ok then
      io.stdout:write('FAIL: ' .. tostring(err) .. '\n')
      vim.cmd('cquit 1')
    end
  end,
})
