// External scanner for mc: string content (so that `//`, `/*` and quotes
// inside strings stay text) and nested block comments, which a regular
// expression cannot match.

#include "tree_sitter/parser.h"

#include <stdbool.h>
#include <stdint.h>

enum TokenType {
  STRING_CONTENT,
  MULTILINE_STRING_CONTENT,
  UNTERMINATED_STRING_END,
  BLOCK_COMMENT,
  ERROR_SENTINEL,
};

void *tree_sitter_mc_external_scanner_create(void) { return NULL; }

void tree_sitter_mc_external_scanner_destroy(void *payload) { (void)payload; }

unsigned tree_sitter_mc_external_scanner_serialize(void *payload, char *buffer) {
  (void)payload;
  (void)buffer;
  return 0;
}

void tree_sitter_mc_external_scanner_deserialize(void *payload, const char *buffer, unsigned length) {
  (void)payload;
  (void)buffer;
  (void)length;
}

static void advance(TSLexer *lexer) { lexer->advance(lexer, false); }

static void skip(TSLexer *lexer) { lexer->advance(lexer, true); }

// Text of a string up to the closing quote, a backslash escape or `${`. A
// plain string ends at a line break, as in the compiler's lexer; a
// multi-line string ends only at `"""`.
static bool scan_string_content(TSLexer *lexer, bool multiline) {
  bool has_content = false;
  for (;;) {
    lexer->mark_end(lexer);
    int32_t c = lexer->lookahead;
    if (lexer->eof(lexer) || c == '\\') {
      break;
    }
    if (c == '\n' && !multiline) {
      break;
    }
    if (c == '"') {
      if (!multiline) {
        break;
      }
      // One or two quotes are text; three close the string.
      unsigned quotes = 0;
      while (lexer->lookahead == '"' && quotes < 3) {
        advance(lexer);
        quotes++;
      }
      if (quotes == 3) {
        break;
      }
      has_content = true;
      continue;
    }
    if (c == '$') {
      advance(lexer);
      if (lexer->lookahead == '{') {
        break;
      }
      has_content = true;
      continue;
    }
    advance(lexer);
    has_content = true;
  }
  lexer->result_symbol = multiline ? MULTILINE_STRING_CONTENT : STRING_CONTENT;
  return has_content;
}

// `/* … */` with nesting. Called after leading white space was skipped.
static bool scan_block_comment(TSLexer *lexer) {
  if (lexer->lookahead != '/') {
    return false;
  }
  advance(lexer);
  if (lexer->lookahead != '*') {
    return false;
  }
  advance(lexer);
  unsigned depth = 1;
  while (!lexer->eof(lexer)) {
    if (lexer->lookahead == '/') {
      advance(lexer);
      if (lexer->lookahead == '*') {
        advance(lexer);
        depth++;
      }
    } else if (lexer->lookahead == '*') {
      advance(lexer);
      if (lexer->lookahead == '/') {
        advance(lexer);
        if (--depth == 0) {
          break;
        }
      }
    } else {
      advance(lexer);
    }
  }
  // An unterminated comment runs to the end of the file, as in the compiler.
  lexer->mark_end(lexer);
  lexer->result_symbol = BLOCK_COMMENT;
  return true;
}

bool tree_sitter_mc_external_scanner_scan(void *payload, TSLexer *lexer, const bool *valid_symbols) {
  (void)payload;
  // During error recovery every symbol is valid: only comments are safe to
  // recognise then, since string content would swallow code.
  bool recovering = valid_symbols[ERROR_SENTINEL];
  if (!recovering) {
    if (valid_symbols[MULTILINE_STRING_CONTENT]) {
      return scan_string_content(lexer, true);
    }
    if (valid_symbols[STRING_CONTENT]) {
      if (scan_string_content(lexer, false)) {
        return true;
      }
      // A plain string cannot span lines: like the compiler, end it at the
      // line break (an empty token) so the next line parses as code.
      if (valid_symbols[UNTERMINATED_STRING_END] && (lexer->lookahead == '\n' || lexer->lookahead == '\r' || lexer->eof(lexer))) {
        lexer->result_symbol = UNTERMINATED_STRING_END;
        return true;
      }
      return false;
    }
  }
  if (valid_symbols[BLOCK_COMMENT]) {
    while (lexer->lookahead == ' ' || lexer->lookahead == '\t' || lexer->lookahead == '\n' ||
           lexer->lookahead == '\r' || lexer->lookahead == '\f') {
      skip(lexer);
    }
    return scan_block_comment(lexer);
  }
  return false;
}
