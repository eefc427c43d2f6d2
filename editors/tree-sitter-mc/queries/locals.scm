; Scopes, definitions and references, for highlighting a name the same way
; everywhere it is used.

[
  (source_file)
  (block)
  (role_declaration)
  (function_declaration)
  (for_statement)
  (list_comprehension)
] @local.scope

(let_declaration name: (identifier) @local.definition)
(resource_statement binding: (identifier) @local.definition)
(parameter name: (identifier) @local.definition)
(for_statement name: (identifier) @local.definition)
(for_statement key: (identifier) @local.definition)
(list_comprehension name: (identifier) @local.definition)
(list_comprehension key: (identifier) @local.definition)
(function_declaration name: (identifier) @local.definition)
(role_declaration name: (identifier) @local.definition)
(type_declaration name: (identifier) @local.definition)
(import_declaration alias: (identifier) @local.definition)

(identifier) @local.reference
