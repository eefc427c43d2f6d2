; Highlights for mc. Every node gets at most one capture, so the result does
; not depend on whether an editor lets the first match win (tree-sitter CLI,
; Helix) or the last (Neovim).

; Comments

(line_comment) @comment
(block_comment) @comment
(doc_comment) @comment.documentation

; Keywords

["import" "as"] @keyword.import
["let" "on" "policy" "when" "project" "check" "assert"] @keyword
["type" "resource"] @keyword.type
["fn" "role"] @keyword.function
"builtin" @keyword.modifier
["if" "else"] @keyword.conditional
["for" "in"] @keyword.repeat
"is" @keyword.operator

(inventory_declaration kind: _ @keyword)
(target_host "host" @function.builtin)
(target_group "group" @function.builtin)
(target_all) @constant.builtin

; Literals

(string) @string
(escape_sequence) @string.escape
(interpolation "${" @punctuation.special)
(integer) @number
(duration) @number
[(true) (false)] @boolean
(null) @constant.builtin

; Declarations

(type_declaration name: (identifier) @type.definition)
(resource_declaration name: (identifier) @type.definition)
(function_declaration name: (identifier) @function)
(role_declaration name: (identifier) @function)
(parameter name: (identifier) @variable.parameter)
(attribute_declaration name: (identifier) @property)
(record_type_field name: (identifier) @property)
(field name: (identifier) @property)
(named_argument name: (identifier) @variable.parameter)
(let_declaration name: (identifier) @variable)
(import_declaration alias: (identifier) @module)
(for_statement name: (identifier) @variable)
(for_statement key: (identifier) @variable)
(list_comprehension name: (identifier) @variable)
(list_comprehension key: (identifier) @variable)

; Types

((named_type (identifier) @type.builtin .)
  (#any-of? @type.builtin "Int" "Bool" "String" "Path" "Mode" "Duration" "Secret" "Any"))
((named_type (identifier) @type .)
  (#not-any-of? @type "Int" "Bool" "String" "Path" "Mode" "Duration" "Secret" "Any"))
(named_type (identifier) @module . ".")
(map_type "String" @type.builtin)

; Resources and calls

(resource_statement type: (identifier) @type)
(resource_statement binding: (identifier) @variable)
(call_statement function: (qualified_name (identifier) @function.call .))
(qualified_name (identifier) @module . ".")
(call_expression function: (identifier) @function.call)
(field_expression field: (identifier) @variable.member)

; Names used as values. `host`, `facts` and `change` are provided by mc.

((_ value: (identifier) @variable.builtin) (#any-of? @variable.builtin "host" "facts" "change"))
((_ value: (identifier) @variable) (#not-any-of? @variable "host" "facts" "change"))
((_ left: (identifier) @variable.builtin) (#any-of? @variable.builtin "host" "facts" "change"))
((_ left: (identifier) @variable) (#not-any-of? @variable "host" "facts" "change"))
((_ right: (identifier) @variable.builtin) (#any-of? @variable.builtin "host" "facts" "change"))
((_ right: (identifier) @variable) (#not-any-of? @variable "host" "facts" "change"))
((_ operand: (identifier) @variable.builtin) (#any-of? @variable.builtin "host" "facts" "change"))
((_ operand: (identifier) @variable) (#not-any-of? @variable "host" "facts" "change"))
((_ condition: (identifier) @variable.builtin) (#any-of? @variable.builtin "host" "facts" "change"))
((_ condition: (identifier) @variable) (#not-any-of? @variable "host" "facts" "change"))
((_ consequence: (identifier) @variable.builtin) (#any-of? @variable.builtin "host" "facts" "change"))
((_ consequence: (identifier) @variable) (#not-any-of? @variable "host" "facts" "change"))
((_ alternative: (identifier) @variable.builtin) (#any-of? @variable.builtin "host" "facts" "change"))
((_ alternative: (identifier) @variable) (#not-any-of? @variable "host" "facts" "change"))
((_ default: (identifier) @variable.builtin) (#any-of? @variable.builtin "host" "facts" "change"))
((_ default: (identifier) @variable) (#not-any-of? @variable "host" "facts" "change"))
((_ body: (identifier) @variable.builtin) (#any-of? @variable.builtin "host" "facts" "change"))
((_ body: (identifier) @variable) (#not-any-of? @variable "host" "facts" "change"))
((_ index: (identifier) @variable.builtin) (#any-of? @variable.builtin "host" "facts" "change"))
((_ index: (identifier) @variable) (#not-any-of? @variable "host" "facts" "change"))
((_ iterable: (identifier) @variable.builtin) (#any-of? @variable.builtin "host" "facts" "change"))
((_ iterable: (identifier) @variable) (#not-any-of? @variable "host" "facts" "change"))
((_ element: (identifier) @variable.builtin) (#any-of? @variable.builtin "host" "facts" "change"))
((_ element: (identifier) @variable) (#not-any-of? @variable "host" "facts" "change"))
((_ filter: (identifier) @variable.builtin) (#any-of? @variable.builtin "host" "facts" "change"))
((_ filter: (identifier) @variable) (#not-any-of? @variable "host" "facts" "change"))
((_ expression: (identifier) @variable.builtin) (#any-of? @variable.builtin "host" "facts" "change"))
((_ expression: (identifier) @variable) (#not-any-of? @variable "host" "facts" "change"))
((_ message: (identifier) @variable.builtin) (#any-of? @variable.builtin "host" "facts" "change"))
((_ message: (identifier) @variable) (#not-any-of? @variable "host" "facts" "change"))
((_ title: (identifier) @variable.builtin) (#any-of? @variable.builtin "host" "facts" "change"))
((_ title: (identifier) @variable) (#not-any-of? @variable "host" "facts" "change"))
((argument_list (identifier) @variable.builtin) (#any-of? @variable.builtin "host" "facts" "change"))
((argument_list (identifier) @variable) (#not-any-of? @variable "host" "facts" "change"))
((list (identifier) @variable.builtin) (#any-of? @variable.builtin "host" "facts" "change"))
((list (identifier) @variable) (#not-any-of? @variable "host" "facts" "change"))
((parenthesized_expression (identifier) @variable.builtin) (#any-of? @variable.builtin "host" "facts" "change"))
((parenthesized_expression (identifier) @variable) (#not-any-of? @variable "host" "facts" "change"))

; Operators and punctuation

[
  "||" "&&" "==" "!=" "<" "<=" ">" ">=" "+" "-" "*" "/" "%" "!" "??" "&"
  "=" "->" "|" "?"
] @operator

["," "." ":"] @punctuation.delimiter
["(" ")" "[" "]"] @punctuation.bracket
(block ["{" "}"] @punctuation.bracket)
(field_block ["{" "}"] @punctuation.bracket)
(record ["{" "}"] @punctuation.bracket)
(record_type ["{" "}"] @punctuation.bracket)
(map_type ["{" "}"] @punctuation.bracket)
(resource_declaration ["{" "}"] @punctuation.bracket)
(policy_declaration ["{" "}"] @punctuation.bracket)
(if_expression ["{" "}"] @punctuation.bracket)
(interpolation "}" @punctuation.special)
