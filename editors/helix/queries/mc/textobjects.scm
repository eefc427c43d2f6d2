; Helix text objects: `maf`/`mif` a function or role, `mat`/`mit` a type or
; resource declaration, `maa`/`mia` a parameter or argument, `mac`/`mic` a
; comment.

(function_declaration) @function.around
(function_declaration body: (_) @function.inside)
(role_declaration) @function.around
(role_declaration body: (block) @function.inside)

(resource_declaration) @class.around
(type_declaration) @class.around
(type_declaration type: (_) @class.inside)

(parameter) @parameter.inside
(argument_list (_) @parameter.inside)

[(line_comment) (block_comment)] @comment.inside
[(line_comment) (block_comment) (doc_comment)] @comment.around
