//! The tower-lsp service: text synchronisation, the compiler thread that
//! publishes diagnostics, and request dispatch onto snapshots.
//!
//! Edits are applied to the IDE layer's projects and queued for the
//! compiler before the handler's first `.await`, so they keep the client's
//! order even though tower-lsp runs handlers concurrently. Read-only
//! requests run on an `Analysis` snapshot in `spawn_blocking`, each behind
//! `catch_unwind`: a panic answers that one request with an error and the
//! server carries on.

use crate::compile::{CompilerMsg, Published};
use crate::features::{self, Doc};
use mc_compiler::ide::{Analysis, AnalysisHost};
use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tower_lsp::jsonrpc::{Error, Result};
use tower_lsp::lsp_types::*;
use tower_lsp::{Client, LanguageServer};

struct State {
    /// The projects of the open documents, as the IDE layer sees them.
    host: AnalysisHost,
    /// The text of each open document.
    texts: HashMap<PathBuf, Arc<str>>,
    versions: HashMap<PathBuf, i32>,
    /// Quick fixes of the published diagnostics, per document.
    fixes: HashMap<Url, Vec<features::code_actions::Fix>>,
    /// Open documents over `MAX_DOCUMENT_BYTES`, held as empty text until a
    /// full change brings them under it.
    oversized: std::collections::HashSet<PathBuf>,
}

/// The largest document analysed: what the server holds per document stays
/// bounded whatever the client sends.
pub const MAX_DOCUMENT_BYTES: usize = 8 << 20;

pub struct Backend {
    client: Client,
    state: Arc<Mutex<State>>,
    compiler: std::sync::mpsc::Sender<CompilerMsg>,
}

impl Backend {
    pub fn new(client: Client, stdlib_dir: PathBuf) -> Backend {
        mc_compiler::ide::write_stdlib(&stdlib_dir);
        let state = Arc::new(Mutex::new(State {
            host: AnalysisHost::new(Arc::new(mc_compiler::OsFileSystem), Some(stdlib_dir)),
            texts: HashMap::new(),
            versions: HashMap::new(),
            fixes: HashMap::new(),
            oversized: Default::default(),
        }));
        let (tx, rx) = std::sync::mpsc::channel();
        let (pub_tx, mut pub_rx) = tokio::sync::mpsc::unbounded_channel::<Published>();
        std::thread::Builder::new()
            .name("mc-lsp-compiler".into())
            .spawn(move || crate::compile::run(rx, pub_tx))
            .ok();
        let publisher = client.clone();
        let fixes_state = state.clone();
        tokio::spawn(async move {
            while let Some(p) = pub_rx.recv().await {
                if let Ok(mut s) = fixes_state.lock() {
                    s.fixes.insert(p.uri.clone(), p.fixes);
                }
                publisher
                    .publish_diagnostics(p.uri, p.diagnostics, p.version)
                    .await;
            }
        });
        Backend {
            client,
            state,
            compiler: tx,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sets a document's text in the IDE layer and queues it for the
    /// compiler.
    fn set_text(&self, path: PathBuf, text: String, version: i32) {
        let text: Arc<str> = Arc::from(text);
        {
            let mut s = self.lock();
            s.host.set_text(&path, text.clone());
            s.texts.insert(path.clone(), text.clone());
            s.versions.insert(path.clone(), version);
        }
        let _ = self.compiler.send(CompilerMsg::Set {
            path,
            text,
            version,
        });
    }

    /// Like `set_text`, but a document over `MAX_DOCUMENT_BYTES` is held as
    /// empty text, and the user is told why it is not analysed.
    async fn set_bounded_text(&self, path: PathBuf, text: String, version: i32) {
        let size = text.len();
        if size <= MAX_DOCUMENT_BYTES {
            self.lock().oversized.remove(&path);
            self.set_text(path, text, version);
            return;
        }
        drop(text);
        let newly = self.lock().oversized.insert(path.clone());
        self.set_text(path.clone(), String::new(), version);
        if newly {
            let message = format!(
                "{}: {} MiB is over the {} MiB that mc lsp analyses; the file is not analysed",
                path.display(),
                size >> 20,
                MAX_DOCUMENT_BYTES >> 20
            );
            self.client
                .show_message(MessageType::WARNING, message)
                .await;
        }
    }

    /// A snapshot of the project of `uri`, and its file there.
    fn snapshot(&self, uri: &Url) -> Option<(Analysis, mc_compiler::db::SourceFile)> {
        let path = uri.to_file_path().ok()?;
        let s = self.lock();
        let analysis = s.host.analysis(&path)?;
        let file = analysis.file(&path)?;
        Some((analysis, file))
    }

    fn version(&self, uri: &Url) -> Option<i32> {
        let path = uri.to_file_path().ok()?;
        self.lock().versions.get(&path).copied()
    }

    /// Runs a read-only request on a snapshot off the protocol thread. A
    /// panic becomes an internal error; an edit that lands meanwhile makes
    /// the answer stale (ContentModified).
    async fn run<T: Send + 'static>(
        &self,
        uri: &Url,
        f: impl FnOnce(&Analysis, &Doc) -> T + Send + 'static,
    ) -> Result<Option<T>> {
        let Some((analysis, file)) = self.snapshot(uri) else {
            return Ok(None);
        };
        let before = self.version(uri);
        let joined = tokio::task::spawn_blocking(move || {
            // The snapshot is dropped before the answer goes out: an edit
            // waiting for it proceeds.
            std::panic::catch_unwind(AssertUnwindSafe(move || {
                let doc = Doc::new(&analysis, file);
                f(&analysis, &doc)
            }))
        })
        .await;
        match joined {
            Ok(Ok(v)) => {
                if self.version(uri) != before {
                    return Err(Error::content_modified());
                }
                Ok(Some(v))
            }
            // An edit cancels the queries of snapshots still running.
            _ if self.version(uri) != before => Err(Error::content_modified()),
            _ => {
                let mut e = Error::internal_error();
                e.message = "the request failed inside mc-lsp; the server keeps running".into();
                Err(e)
            }
        }
    }
}

fn apply_change(text: &mut String, change: &TextDocumentContentChangeEvent) {
    let Some(range) = change.range else {
        *text = change.text.clone();
        return;
    };
    let index = mc_diagnostics::LineIndex::new(text);
    let at = |p: Position| {
        index.offset_utf16(
            text,
            mc_diagnostics::LineCol {
                line: p.line,
                col: p.character,
            },
        )
    };
    let (start, end) = (at(range.start), at(range.end));
    let (start, end) = (start.min(end), end.max(start));
    text.replace_range(start..end, &change.text);
}

pub fn capabilities() -> ServerCapabilities {
    ServerCapabilities {
        text_document_sync: Some(TextDocumentSyncCapability::Options(
            TextDocumentSyncOptions {
                open_close: Some(true),
                change: Some(TextDocumentSyncKind::INCREMENTAL),
                ..TextDocumentSyncOptions::default()
            },
        )),
        hover_provider: Some(HoverProviderCapability::Simple(true)),
        definition_provider: Some(OneOf::Left(true)),
        references_provider: Some(OneOf::Left(true)),
        rename_provider: Some(OneOf::Right(RenameOptions {
            prepare_provider: Some(true),
            work_done_progress_options: WorkDoneProgressOptions::default(),
        })),
        completion_provider: Some(CompletionOptions {
            trigger_characters: Some(vec![".".into(), "\"".into()]),
            ..CompletionOptions::default()
        }),
        signature_help_provider: Some(SignatureHelpOptions {
            trigger_characters: Some(vec!["(".into(), ",".into()]),
            retrigger_characters: None,
            work_done_progress_options: WorkDoneProgressOptions::default(),
        }),
        document_symbol_provider: Some(OneOf::Left(true)),
        workspace_symbol_provider: Some(OneOf::Left(true)),
        semantic_tokens_provider: Some(SemanticTokensServerCapabilities::SemanticTokensOptions(
            SemanticTokensOptions {
                legend: SemanticTokensLegend {
                    token_types: features::TOKEN_TYPES.to_vec(),
                    token_modifiers: Vec::new(),
                },
                full: Some(SemanticTokensFullOptions::Bool(true)),
                range: None,
                work_done_progress_options: WorkDoneProgressOptions::default(),
            },
        )),
        inlay_hint_provider: Some(OneOf::Left(true)),
        document_formatting_provider: Some(OneOf::Left(true)),
        document_range_formatting_provider: Some(OneOf::Left(true)),
        code_action_provider: Some(CodeActionProviderCapability::Simple(true)),
        ..ServerCapabilities::default()
    }
}

#[tower_lsp::async_trait]
impl LanguageServer for Backend {
    async fn initialize(&self, _: InitializeParams) -> Result<InitializeResult> {
        Ok(InitializeResult {
            capabilities: capabilities(),
            server_info: Some(ServerInfo {
                name: "mc-lsp".into(),
                version: Some(env!("CARGO_PKG_VERSION").into()),
            }),
        })
    }

    async fn initialized(&self, _: InitializedParams) {
        self.client
            .log_message(MessageType::INFO, "mc language server ready")
            .await;
    }

    async fn shutdown(&self) -> Result<()> {
        let _ = self.compiler.send(CompilerMsg::Shutdown);
        Ok(())
    }

    async fn did_open(&self, params: DidOpenTextDocumentParams) {
        let doc = params.text_document;
        if let Ok(path) = doc.uri.to_file_path() {
            self.set_bounded_text(path, doc.text, doc.version).await;
        }
    }

    async fn did_change(&self, params: DidChangeTextDocumentParams) {
        let Ok(path) = params.text_document.uri.to_file_path() else {
            return;
        };
        let current = {
            let s = self.lock();
            s.texts.get(&path).map(|t| t.to_string())
        };
        let Some(mut text) = current else { return };
        let oversized = self.lock().oversized.contains(&path);
        for change in &params.content_changes {
            // Ranges into an oversized document point into text never kept.
            if !oversized || change.range.is_none() {
                apply_change(&mut text, change);
            }
        }
        self.set_bounded_text(path, text, params.text_document.version)
            .await;
    }

    async fn did_close(&self, params: DidCloseTextDocumentParams) {
        let Ok(path) = params.text_document.uri.to_file_path() else {
            return;
        };
        {
            // The file on disk is the truth again, read as the compiler
            // reads it.
            let mut s = self.lock();
            s.versions.remove(&path);
            s.oversized.remove(&path);
            s.texts.remove(&path);
            s.host.close(&path);
        }
        let _ = self.compiler.send(CompilerMsg::Close { path });
    }

    async fn hover(&self, params: HoverParams) -> Result<Option<Hover>> {
        let p = params.text_document_position_params;
        let pos = p.position;
        Ok(self
            .run(&p.text_document.uri, move |a, d| {
                features::hover::hover(a, d, d.offset(pos))
            })
            .await?
            .flatten())
    }

    async fn goto_definition(
        &self,
        params: GotoDefinitionParams,
    ) -> Result<Option<GotoDefinitionResponse>> {
        let p = params.text_document_position_params;
        let pos = p.position;
        let loc = self
            .run(&p.text_document.uri, move |a, d| {
                features::definition::definition(a, d, d.offset(pos))
            })
            .await?
            .flatten();
        Ok(loc.map(GotoDefinitionResponse::Scalar))
    }

    async fn references(&self, params: ReferenceParams) -> Result<Option<Vec<Location>>> {
        let p = params.text_document_position;
        let pos = p.position;
        let decl = params.context.include_declaration;
        self.run(&p.text_document.uri, move |a, d| {
            features::references::references(a, d, d.offset(pos), decl)
        })
        .await
    }

    async fn prepare_rename(
        &self,
        params: TextDocumentPositionParams,
    ) -> Result<Option<PrepareRenameResponse>> {
        let pos = params.position;
        let r = self
            .run(&params.text_document.uri, move |a, d| {
                features::rename::prepare_rename(a, d, d.offset(pos))
            })
            .await?
            .flatten();
        Ok(r.map(PrepareRenameResponse::Range))
    }

    async fn rename(&self, params: RenameParams) -> Result<Option<WorkspaceEdit>> {
        let p = params.text_document_position;
        let pos = p.position;
        let name = params.new_name;
        match self
            .run(&p.text_document.uri, move |a, d| {
                features::rename::rename(a, d, d.offset(pos), &name)
            })
            .await?
        {
            None => Ok(None),
            Some(Ok(edit)) => Ok(edit),
            Some(Err(message)) => Err(Error::invalid_params(message)),
        }
    }

    async fn completion(&self, params: CompletionParams) -> Result<Option<CompletionResponse>> {
        let p = params.text_document_position;
        let pos = p.position;
        let items = self
            .run(&p.text_document.uri, move |a, d| {
                features::completion::completion(a, d, d.offset(pos))
            })
            .await?;
        Ok(items.map(CompletionResponse::Array))
    }

    async fn signature_help(&self, params: SignatureHelpParams) -> Result<Option<SignatureHelp>> {
        let p = params.text_document_position_params;
        let pos = p.position;
        Ok(self
            .run(&p.text_document.uri, move |a, d| {
                features::signature_help::signature_help(a, d, d.offset(pos))
            })
            .await?
            .flatten())
    }

    async fn document_symbol(
        &self,
        params: DocumentSymbolParams,
    ) -> Result<Option<DocumentSymbolResponse>> {
        let symbols = self
            .run(&params.text_document.uri, |a, d| {
                features::symbols::document_symbols(a, d)
            })
            .await?;
        Ok(symbols.map(DocumentSymbolResponse::Nested))
    }

    async fn symbol(
        &self,
        params: WorkspaceSymbolParams,
    ) -> Result<Option<Vec<SymbolInformation>>> {
        let analyses = self.lock().host.analyses();
        let query = params.query;
        let joined = tokio::task::spawn_blocking(move || {
            std::panic::catch_unwind(AssertUnwindSafe(move || {
                features::symbols::workspace_symbols(&analyses, &query)
            }))
        })
        .await;
        match joined {
            Ok(Ok(v)) => Ok(Some(v)),
            _ => Err(Error::internal_error()),
        }
    }

    async fn semantic_tokens_full(
        &self,
        params: SemanticTokensParams,
    ) -> Result<Option<SemanticTokensResult>> {
        let data = self
            .run(
                &params.text_document.uri,
                features::semantic_tokens::semantic_tokens,
            )
            .await?;
        Ok(data.map(|data| {
            SemanticTokensResult::Tokens(SemanticTokens {
                result_id: None,
                data,
            })
        }))
    }

    async fn inlay_hint(&self, params: InlayHintParams) -> Result<Option<Vec<InlayHint>>> {
        let range = params.range;
        self.run(&params.text_document.uri, move |a, d| {
            features::inlay_hints::inlay_hints(a, d, range)
        })
        .await
    }

    async fn formatting(&self, params: DocumentFormattingParams) -> Result<Option<Vec<TextEdit>>> {
        self.run(&params.text_document.uri, |a, d| {
            features::formatting::formatting(a, d, None)
        })
        .await
    }

    async fn range_formatting(
        &self,
        params: DocumentRangeFormattingParams,
    ) -> Result<Option<Vec<TextEdit>>> {
        let range = params.range;
        self.run(&params.text_document.uri, move |a, d| {
            features::formatting::formatting(a, d, Some(range))
        })
        .await
    }

    async fn code_action(&self, params: CodeActionParams) -> Result<Option<CodeActionResponse>> {
        let uri = params.text_document.uri;
        let want = params.range;
        let s = self.lock();
        let Some(fixes) = s.fixes.get(&uri) else {
            return Ok(None);
        };
        Ok(Some(features::code_actions::quick_fixes(fixes, want)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(
        range: Option<((u32, u32), (u32, u32))>,
        text: &str,
    ) -> TextDocumentContentChangeEvent {
        TextDocumentContentChangeEvent {
            range: range.map(|((l1, c1), (l2, c2))| {
                Range::new(Position::new(l1, c1), Position::new(l2, c2))
            }),
            range_length: None,
            text: text.to_string(),
        }
    }

    #[test]
    fn incremental_changes_use_utf16_columns() {
        let mut text = "let a = \"é😀x\"\nlet b = 2\n".to_string();
        // `x` is at UTF-16 column 12 (é is one unit, 😀 two).
        apply_change(&mut text, &change(Some(((0, 12), (0, 13))), "y"));
        assert_eq!(text, "let a = \"é😀y\"\nlet b = 2\n");
        apply_change(&mut text, &change(Some(((1, 8), (1, 9))), "42"));
        assert_eq!(text, "let a = \"é😀y\"\nlet b = 42\n");
        // Past the end is clamped, never a panic.
        apply_change(&mut text, &change(Some(((9, 0), (12, 5))), "// end\n"));
        assert_eq!(text, "let a = \"é😀y\"\nlet b = 42\n// end\n");
        apply_change(&mut text, &change(None, "whole"));
        assert_eq!(text, "whole");
    }
}
