/**
 * @file Tree-sitter grammar for mc, the Masterchef configuration language.
 *
 * It follows the compiler's grammar (grammar/src/mc.lalrpop and lexer.rs):
 * the same items, statements, types and expression precedences. Like most
 * tree-sitter grammars it is a little more lenient than the compiler, which
 * reports those errors anyway: it accepts chained comparisons (`a < b < c`)
 * and an `if` expression as an operand.
 */

/// <reference types="tree-sitter-cli/dsl" />
// @ts-check

const PREC = {
  if: -1,
  or: 1,
  and: 2,
  compare: 3,
  is: 4,
  coalesce: 5,
  merge: 6,
  add: 7,
  multiply: 8,
  unary: 9,
  postfix: 10,
};

// Words the compiler's lexer turns into keyword tokens.
const KEYWORDS = [
  'import', 'as', 'let', 'type', 'fn', 'builtin', 'role', 'on', 'policy',
  'when', 'resource', 'check', 'assert', 'project', 'if', 'else', 'for', 'in', 'is',
  'true', 'false', 'null',
];

// Keywords that also work as a field name or after `.`, where they read
// naturally (`type = "oneshot"`, `change.resource`).
const SOFT_KEYWORDS = [
  'type', 'check', 'assert', 'on', 'in', 'when', 'role', 'policy', 'project',
  'resource', 'import', 'as', 'builtin', 'fn',
];

module.exports = grammar({
  name: 'mc',

  word: $ => $.identifier,

  extras: $ => [/\s/, $.line_comment, $.doc_comment, $.block_comment],

  externals: $ => [
    $._string_content,
    $._multiline_string_content,
    $._unterminated_string_end,
    $.block_comment,
    $._error_sentinel,
  ],

  reserved: {
    global: _ => KEYWORDS,
  },

  supertypes: $ => [$._item, $._statement, $._expression, $._type, $._target],

  inline: $ => [$._field_name],

  rules: {
    source_file: $ => repeat($._item),

    _item: $ => choice(
      $.import_declaration,
      $.let_declaration,
      $.type_declaration,
      $.function_declaration,
      $.role_declaration,
      $.inventory_declaration,
      $.on_block,
      $.policy_declaration,
      $.resource_declaration,
      $.project_declaration,
    ),

    import_declaration: $ => seq(
      'import',
      field('path', $.string),
      optional(seq('as', field('alias', $.identifier))),
    ),

    let_declaration: $ => seq(
      'let',
      field('name', $.identifier),
      optional(seq(':', field('type', $._type))),
      '=',
      field('value', $._expression),
    ),

    type_declaration: $ => seq(
      'type',
      field('name', $.identifier),
      '=',
      field('type', $._type),
    ),

    function_declaration: $ => choice(
      seq(
        'fn',
        field('name', $.identifier),
        field('parameters', $.parameter_list),
        optional(seq('->', field('return_type', $._type))),
        '=',
        field('body', $._expression),
      ),
      seq(
        'builtin',
        'fn',
        field('name', $.identifier),
        field('parameters', $.parameter_list),
        optional(seq('->', field('return_type', $._type))),
      ),
    ),

    parameter_list: $ => seq('(', commaSep($.parameter), ')'),

    parameter: $ => seq(
      field('name', $.identifier),
      ':',
      field('type', $._type),
      optional(seq('=', field('default', $._expression))),
    ),

    role_declaration: $ => seq(
      'role',
      field('name', $.identifier),
      optional(field('parameters', $.parameter_list)),
      field('body', $.block),
    ),

    // `host "web1" { … }` and `group "web" { … }`.
    inventory_declaration: $ => seq(
      field('kind', choice('host', 'group')),
      field('name', $.string),
      field('body', $.field_block),
    ),

    on_block: $ => seq(
      'on',
      field('target', $._target),
      field('body', $.block),
    ),

    _target: $ => choice(
      $.target_all,
      $.target_host,
      $.target_group,
      $.target_and,
      $.target_or,
      $.target_not,
      $.target_parenthesized,
    ),

    target_all: _ => 'all',
    target_host: $ => seq('host', '(', field('name', $._expression), ')'),
    target_group: $ => seq('group', '(', field('name', $._expression), ')'),
    target_or: $ => prec.left(PREC.or, seq(field('left', $._target), '||', field('right', $._target))),
    target_and: $ => prec.left(PREC.and, seq(field('left', $._target), '&&', field('right', $._target))),
    target_not: $ => prec(PREC.unary, seq('!', field('target', $._target))),
    target_parenthesized: $ => seq('(', $._target, ')'),

    policy_declaration: $ => seq(
      'policy',
      field('name', $.string),
      '{',
      repeat($.when_clause),
      '}',
    ),

    when_clause: $ => seq(
      'when',
      field('condition', $._expression),
      field('body', $.block),
    ),

    resource_declaration: $ => seq(
      'resource',
      field('name', $.identifier),
      '(',
      field('title', $.parameter),
      optional(','),
      ')',
      '{',
      repeat(choice($.attribute_declaration, $.check_clause)),
      '}',
    ),

    attribute_declaration: $ => seq(
      field('name', choice($.identifier, alias('type', $.identifier))),
      ':',
      field('type', $._type),
      optional(seq('=', field('default', $._expression))),
    ),

    check_clause: $ => seq(
      'check',
      field('condition', $._expression),
      ':',
      field('message', $._expression),
    ),

    project_declaration: $ => seq('project', field('body', $.field_block)),

    // ------------------------------------------------------------ statements

    block: $ => seq('{', repeat($._statement), '}'),

    _statement: $ => choice(
      $.resource_statement,
      $.let_declaration,
      $.if_statement,
      $.for_statement,
      $.call_statement,
      $.assert_statement,
    ),

    // `file "/etc/motd" { … }`, or bound: `let conf = file "/etc/x" { … }`.
    resource_statement: $ => choice(
      seq(
        field('type', $.identifier),
        field('title', $._title),
        field('body', $.field_block),
      ),
      seq(
        'let',
        field('binding', $.identifier),
        '=',
        field('type', $.identifier),
        field('title', $.string),
        field('body', $.field_block),
      ),
    ),

    // A string, number or name with field access, index and calls; never
    // `(`, `[` or `{` first, which would read as a call, an index or a body.
    _title: $ => choice(
      $.string,
      $.identifier,
      $.integer,
      alias($.title_field_expression, $.field_expression),
      alias($.title_index_expression, $.index_expression),
      alias($.title_call_expression, $.call_expression),
    ),

    title_field_expression: $ => seq(
      field('value', $._title),
      '.',
      field('field', $._field_name),
    ),
    title_index_expression: $ => seq(
      field('value', $._title),
      '[',
      field('index', $._expression),
      ']',
    ),
    title_call_expression: $ => seq(
      field('function', $._title),
      field('arguments', $.argument_list),
    ),

    if_statement: $ => seq(
      'if',
      field('condition', $._expression),
      field('consequence', $.block),
      optional(seq('else', field('alternative', choice($.if_statement, $.block)))),
    ),

    for_statement: $ => seq(
      'for',
      $._for_pattern,
      'in',
      field('iterable', $._expression),
      field('body', $.block),
    ),

    _for_pattern: $ => choice(
      field('name', $.identifier),
      seq(field('key', $.identifier), ',', field('name', $.identifier)),
    ),

    // A role call `base(admins = [])`, `web.nginx(port = 80)`, or in a policy
    // `deny("…")`.
    call_statement: $ => seq(
      field('function', $.qualified_name),
      field('arguments', $.argument_list),
    ),

    // `assert workers > 0 : "workers must be positive"`
    assert_statement: $ => seq(
      'assert',
      field('condition', $._expression),
      ':',
      field('message', $._expression),
    ),

    qualified_name: $ => seq($.identifier, repeat(seq('.', $.identifier))),

    field_block: $ => seq('{', repeat(seq($.field, optional(','))), '}'),

    field: $ => seq(
      field('name', choice($._field_name, $.string)),
      '=',
      field('value', $._expression),
    ),

    _field_name: $ => choice($.identifier, alias(choice(...SOFT_KEYWORDS), $.identifier)),

    argument_list: $ => seq('(', commaSep(choice($.named_argument, $._expression)), ')'),

    named_argument: $ => seq(
      field('name', $.identifier),
      '=',
      field('value', $._expression),
    ),

    // ----------------------------------------------------------------- types

    _type: $ => choice(
      $.named_type,
      $.literal_type,
      $.list_type,
      $.map_type,
      $.record_type,
      $.optional_type,
      $.union_type,
      $.parenthesized_type,
    ),

    // Types that bind tightest: what `x is T` accepts.
    _type_atom: $ => choice(
      $.named_type,
      $.literal_type,
      $.list_type,
      $.map_type,
      $.record_type,
      $.parenthesized_type,
    ),

    named_type: $ => prec.right(seq($.identifier, repeat(seq('.', $.identifier)))),

    literal_type: $ => $.string,

    list_type: $ => seq('[', field('element', $._type), ']'),

    // `{String: T}`: the compiler reads a brace type whose only key is
    // `String` as a map.
    map_type: $ => prec(1, seq('{', 'String', ':', field('value', $._type), optional(','), '}')),

    record_type: $ => seq('{', repeat(seq($.record_type_field, optional(','))), '}'),

    record_type_field: $ => seq(
      field('name', $._field_name),
      ':',
      field('type', $._type),
      optional(seq('=', field('default', $._expression))),
    ),

    optional_type: $ => seq(field('type', choice($._type_atom, $.optional_type)), '?'),

    union_type: $ => prec.left(seq(
      field('member', choice($._type_atom, $.optional_type)),
      repeat1(seq('|', field('member', choice($._type_atom, $.optional_type)))),
    )),

    parenthesized_type: $ => seq('(', $._type, ')'),

    // ----------------------------------------------------------- expressions

    _expression: $ => choice(
      $.integer,
      $.duration,
      $.true,
      $.false,
      $.null,
      $.string,
      $.identifier,
      $.list,
      $.list_comprehension,
      $.record,
      $.field_expression,
      $.index_expression,
      $.call_expression,
      $.unary_expression,
      $.binary_expression,
      $.type_test_expression,
      $.if_expression,
      $.parenthesized_expression,
    ),

    integer: _ => token(choice(
      /0[oO][0-7_]+/,
      /0[xX][0-9a-fA-F_]+/,
      /0[bB][01_]+/,
      /[0-9][0-9_]*/,
    )),

    duration: _ => token(/([0-9][0-9_]*(ms|s|m|h|d))+/),

    true: _ => 'true',
    false: _ => 'false',
    null: _ => 'null',

    identifier: _ => /[A-Za-z_][A-Za-z0-9_]*/,

    list: $ => seq('[', commaSep($._expression), ']'),

    list_comprehension: $ => seq(
      '[',
      field('element', $._expression),
      'for',
      $._for_pattern,
      'in',
      field('iterable', $._expression),
      optional(seq('if', field('filter', $._expression))),
      ']',
    ),

    record: $ => seq('{', repeat(seq($.field, optional(','))), '}'),

    field_expression: $ => prec(PREC.postfix, seq(
      field('value', $._expression),
      '.',
      field('field', $._field_name),
    )),

    index_expression: $ => prec(PREC.postfix, seq(
      field('value', $._expression),
      '[',
      field('index', $._expression),
      ']',
    )),

    call_expression: $ => prec(PREC.postfix, seq(
      field('function', $._expression),
      field('arguments', $.argument_list),
    )),

    unary_expression: $ => prec(PREC.unary, seq(
      field('operator', choice('!', '-')),
      field('operand', $._expression),
    )),

    binary_expression: $ => choice(
      ...[
        ['||', PREC.or],
        ['&&', PREC.and],
        ['==', PREC.compare],
        ['!=', PREC.compare],
        ['<', PREC.compare],
        ['<=', PREC.compare],
        ['>', PREC.compare],
        ['>=', PREC.compare],
        ['&', PREC.merge],
        ['+', PREC.add],
        ['-', PREC.add],
        ['*', PREC.multiply],
        ['/', PREC.multiply],
        ['%', PREC.multiply],
      ].map(([operator, precedence]) => prec.left(precedence, seq(
        field('left', $._expression),
        field('operator', operator),
        field('right', $._expression),
      ))),
      // `a ?? b ?? c` groups to the right.
      prec.right(PREC.coalesce, seq(
        field('left', $._expression),
        field('operator', '??'),
        field('right', $._expression),
      )),
    ),

    type_test_expression: $ => prec.left(PREC.is, seq(
      field('value', $._expression),
      'is',
      field('type', $._type_atom),
    )),

    if_expression: $ => prec.right(PREC.if, seq(
      'if',
      field('condition', $._expression),
      '{',
      field('consequence', $._expression),
      '}',
      'else',
      field('alternative', choice(
        seq('{', $._expression, '}'),
        $.if_expression,
      )),
    )),

    parenthesized_expression: $ => seq('(', $._expression, ')'),

    // --------------------------------------------------------------- strings

    string: $ => choice(
      seq(
        '"',
        repeat(choice(alias($._string_content, $.string_content), $.escape_sequence, $.interpolation)),
        // The compiler reports a missing quote and ends the string at the
        // line break; so does this grammar, to keep the next lines intact.
        choice('"', $._unterminated_string_end),
      ),
      seq(
        '"""',
        repeat(choice(alias($._multiline_string_content, $.string_content), $.escape_sequence, $.interpolation)),
        '"""',
      ),
    ),

    escape_sequence: _ => token.immediate(seq('\\', choice(/[ntr\\"$0]/, /u\{[0-9a-fA-F]{1,6}\}/, /\r?\n/))),

    interpolation: $ => seq('${', field('expression', $._expression), '}'),

    // `///` starts a doc comment; `////` is a plain comment again.
    doc_comment: _ => token(/\/\/\/([^\/\n][^\n]*)?/),
    line_comment: _ => token(/\/\/(\/\/[^\n]*|[^\/\n][^\n]*)?/),
  },
});

/**
 * Zero or more `rule`s separated by commas, with an optional trailing comma.
 * @param {Rule} rule
 */
function commaSep(rule) {
  return optional(seq(rule, repeat(seq(',', rule)), optional(',')));
}
