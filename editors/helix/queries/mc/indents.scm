; Helix indentation: one level inside every bracketed construct.

[
  (block)
  (field_block)
  (record)
  (record_type)
  (map_type)
  (list)
  (list_comprehension)
  (argument_list)
  (parameter_list)
  (policy_declaration)
  (resource_declaration)
  (if_expression)
  (interpolation)
] @indent

["}" "]" ")"] @outdent
