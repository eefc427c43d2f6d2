//! Byte offset ↔ line/column conversion, shared by the CLI and the LSP.

/// A zero-based position. `col` counts bytes from the start of the line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct LineCol {
    pub line: u32,
    pub col: u32,
}

/// Line starts of one text, for O(log n) lookups.
#[derive(Clone, Debug)]
pub struct LineIndex {
    line_starts: Vec<usize>,
    len: usize,
}

impl LineIndex {
    pub fn new(text: &str) -> LineIndex {
        let mut line_starts = vec![0];
        line_starts.extend(
            text.bytes()
                .enumerate()
                .filter(|&(_, b)| b == b'\n')
                .map(|(i, _)| i + 1),
        );
        LineIndex {
            line_starts,
            len: text.len(),
        }
    }

    pub fn line_count(&self) -> usize {
        self.line_starts.len()
    }

    /// Zero-based line and byte column of `offset` (clamped to the text).
    pub fn line_col(&self, offset: usize) -> LineCol {
        let offset = offset.min(self.len);
        let line = self
            .line_starts
            .partition_point(|&start| start <= offset)
            .saturating_sub(1);
        let col = offset - self.line_starts[line];
        LineCol {
            line: u32::try_from(line).unwrap_or(u32::MAX),
            col: u32::try_from(col).unwrap_or(u32::MAX),
        }
    }

    /// One-based line and one-based character column, as editors and
    /// `file:line:col` print them.
    pub fn line_col_chars(&self, text: &str, offset: usize) -> (usize, usize) {
        let pos = self.line_col(offset);
        let start = self.line_starts[pos.line as usize];
        let end = floor_char_boundary(text, start + pos.col as usize);
        let chars = text.get(start..end).map_or(0, |s| s.chars().count());
        (pos.line as usize + 1, chars + 1)
    }

    /// Zero-based line and UTF-16 column (what LSP clients use by default).
    pub fn line_col_utf16(&self, text: &str, offset: usize) -> LineCol {
        let pos = self.line_col(offset);
        let start = self.line_starts[pos.line as usize];
        let end = floor_char_boundary(text, start + pos.col as usize);
        let units: usize = text
            .get(start..end)
            .map_or(0, |s| s.chars().map(char::len_utf16).sum());
        LineCol {
            line: pos.line,
            col: u32::try_from(units).unwrap_or(u32::MAX),
        }
    }

    /// The byte offset of a zero-based line and UTF-16 column, clamped to
    /// the line's end.
    pub fn offset_utf16(&self, text: &str, pos: LineCol) -> usize {
        let Some(&start) = self.line_starts.get(pos.line as usize) else {
            return self.len;
        };
        let end = self
            .line_starts
            .get(pos.line as usize + 1)
            .map_or(self.len, |&next| next - 1);
        let mut units = 0usize;
        for (i, c) in text.get(start..end).unwrap_or("").char_indices() {
            if units >= pos.col as usize {
                return start + i;
            }
            units += c.len_utf16();
        }
        end
    }

    /// The byte offset where zero-based `line` starts.
    pub fn line_start(&self, line: usize) -> Option<usize> {
        self.line_starts.get(line).copied()
    }
}

/// The largest char boundary of `text` at or below `offset`.
pub fn floor_char_boundary(text: &str, offset: usize) -> usize {
    let mut offset = offset.min(text.len());
    while offset > 0 && !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_columns() {
        let text = "ab\nçd\n\nx";
        let index = LineIndex::new(text);
        assert_eq!(index.line_count(), 4);
        assert_eq!(index.line_col(0), LineCol { line: 0, col: 0 });
        assert_eq!(index.line_col(3), LineCol { line: 1, col: 0 });
        assert_eq!(index.line_col(5), LineCol { line: 1, col: 2 });
        assert_eq!(index.line_col_chars(text, 5), (2, 2));
        assert_eq!(index.line_col(8), LineCol { line: 3, col: 0 });
        assert_eq!(index.line_col(100), LineCol { line: 3, col: 1 });
        assert_eq!(index.line_col_utf16(text, 6), LineCol { line: 1, col: 2 });
        assert_eq!(index.offset_utf16(text, LineCol { line: 1, col: 1 }), 5);
        assert_eq!(index.offset_utf16(text, LineCol { line: 1, col: 9 }), 6);
    }
}
