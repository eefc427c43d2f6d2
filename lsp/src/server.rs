//! The tower-lsp service: text synchronisation, the compiler thread that
//! publishes diagnostics, and request dispatch onto snapshots.
//!
//! Edits are applied to the editor's world and queued for the compiler
//! before the handler's first `.await`, so they keep the client's order even
//! though tower-lsp runs handlers concurrently. Read-only requests run on an
//! immutable snapshot in `spawn_blocking`, each behind `catch_unwind`: a
//! panic answers that one request with an error and the server carries on.

use crate::compile::{CompilerMsg, Published};
use crate::features;
use crate::world::{FileData, World};
use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tower_lsp::jsonrpc::{Error, Result};
use tower_lsp::lsp_types::*;
use tower_lsp::{Client, LanguageServer};

#[derive(Default)]
struct State {
    world: Arc<World>,
    versions: HashMap<PathBuf, i32>,
    /// Quick fixes of the published diagnostics, per document.
    fixes: HashMap<Url, Vec<(Diagnostic, WorkspaceEdit, String)>>,
    /// The checker's binding types of each open document, with the
    /// version they were computed for.
    types: HashMap<Url, (Option<i32>, Arc<Vec<crate::compile::BindingType>>)>,
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
        let state = Arc::new(Mutex::new(State {
            world: Arc::new(World::with_stdlib(&stdlib_dir)),
            ..State::default()
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
                    if let Some(types) = p.types {
                        s.types.insert(p.uri.clone(), (p.version, Arc::new(types)));
                    }
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

    /// Sets a document's text in the world and queues it for the compiler.
    fn set_text(&self, path: PathBuf, text: String, version: i32) {
        let text: Arc<str> = Arc::from(text);
        {
            let mut s = self.lock();
            Arc::make_mut(&mut s.world).set_text(path.clone(), text.clone());
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

    /// The world and the file of `uri`.
    fn snapshot(&self, uri: &Url) -> Option<(Arc<World>, Arc<FileData>)> {
        let path = uri.to_file_path().ok()?;
        let s = self.lock();
        let file = s.world.file(&path)?.clone();
        Some((s.world.clone(), file))
    }

    /// The checker's binding types of `uri`, when they are of its current
    /// text (none while a check of the latest edit is pending).
    fn types(&self, uri: &Url) -> Arc<Vec<crate::compile::BindingType>> {
        let current = self.version(uri);
        let s = self.lock();
        match s.types.get(uri) {
            Some((v, types)) if *v == current => types.clone(),
            _ => Arc::default(),
        }
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
        f: impl FnOnce(&World, &FileData) -> T + Send + 'static,
    ) -> Result<Option<T>> {
        let Some((world, file)) = self.snapshot(uri) else {
            return Ok(None);
        };
        let before = self.version(uri);
        let joined = tokio::task::spawn_blocking(move || {
            std::panic::catch_unwind(AssertUnwindSafe(|| f(&world, &file)))
        })
        .await;
        match joined {
            Ok(Ok(v)) => {
                if self.version(uri) != before {
                    return Err(Error::content_modified());
                }
                Ok(Some(v))
            }
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
            s.world.file(&path).map(|f| f.text.to_string())
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
            let mut s = self.lock();
            s.versions.remove(&path);
            s.oversized.remove(&path);
        }
        // The file on disk is the truth again (a regular file: a device or
        // pipe is never read).
        let is_file = std::fs::metadata(&path).is_ok_and(|m| m.is_file());
        if let Some(text) = is_file
            .then(|| std::fs::read_to_string(&path).ok())
            .flatten()
        {
            let mut s = self.lock();
            Arc::make_mut(&mut s.world).set_text(path.clone(), Arc::from(text));
        }
        let _ = self.compiler.send(CompilerMsg::Close { path });
    }

    async fn hover(&self, params: HoverParams) -> Result<Option<Hover>> {
        let p = params.text_document_position_params;
        let pos = p.position;
        let types = self.types(&p.text_document.uri);
        Ok(self
            .run(&p.text_document.uri, move |w, f| {
                features::hover(w, f, features::offset(f, pos), &types)
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
            .run(&p.text_document.uri, move |w, f| {
                features::definition(w, f, features::offset(f, pos))
            })
            .await?
            .flatten();
        Ok(loc.map(GotoDefinitionResponse::Scalar))
    }

    async fn references(&self, params: ReferenceParams) -> Result<Option<Vec<Location>>> {
        let p = params.text_document_position;
        let pos = p.position;
        let decl = params.context.include_declaration;
        self.run(&p.text_document.uri, move |w, f| {
            features::references(w, f, features::offset(f, pos), decl)
        })
        .await
    }

    async fn prepare_rename(
        &self,
        params: TextDocumentPositionParams,
    ) -> Result<Option<PrepareRenameResponse>> {
        let pos = params.position;
        let r = self
            .run(&params.text_document.uri, move |w, f| {
                features::prepare_rename(w, f, features::offset(f, pos))
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
            .run(&p.text_document.uri, move |w, f| {
                features::rename(w, f, features::offset(f, pos), &name)
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
            .run(&p.text_document.uri, move |w, f| {
                features::completion(w, f, features::offset(f, pos))
            })
            .await?;
        Ok(items.map(CompletionResponse::Array))
    }

    async fn signature_help(&self, params: SignatureHelpParams) -> Result<Option<SignatureHelp>> {
        let p = params.text_document_position_params;
        let pos = p.position;
        Ok(self
            .run(&p.text_document.uri, move |w, f| {
                features::signature_help(w, f, features::offset(f, pos))
            })
            .await?
            .flatten())
    }

    async fn document_symbol(
        &self,
        params: DocumentSymbolParams,
    ) -> Result<Option<DocumentSymbolResponse>> {
        let symbols = self
            .run(&params.text_document.uri, |_, f| {
                features::document_symbols(f)
            })
            .await?;
        Ok(symbols.map(DocumentSymbolResponse::Nested))
    }

    async fn symbol(
        &self,
        params: WorkspaceSymbolParams,
    ) -> Result<Option<Vec<SymbolInformation>>> {
        let world = self.lock().world.clone();
        let query = params.query;
        let joined = tokio::task::spawn_blocking(move || {
            std::panic::catch_unwind(AssertUnwindSafe(|| {
                features::workspace_symbols(&world, &query)
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
            .run(&params.text_document.uri, features::semantic_tokens)
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
        let types = self.types(&params.text_document.uri);
        self.run(&params.text_document.uri, move |w, f| {
            features::inlay_hints(w, f, range, &types)
        })
        .await
    }

    async fn formatting(&self, params: DocumentFormattingParams) -> Result<Option<Vec<TextEdit>>> {
        self.run(&params.text_document.uri, |_, f| {
            features::formatting(f, None)
        })
        .await
    }

    async fn range_formatting(
        &self,
        params: DocumentRangeFormattingParams,
    ) -> Result<Option<Vec<TextEdit>>> {
        let range = params.range;
        self.run(&params.text_document.uri, move |_, f| {
            features::formatting(f, Some(range))
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
        let overlaps = |r: &Range| !(r.end < want.start || r.start > want.end);
        let actions: Vec<CodeActionOrCommand> = fixes
            .iter()
            .filter(|(d, _, _)| overlaps(&d.range))
            .map(|(d, edit, title)| {
                CodeActionOrCommand::CodeAction(CodeAction {
                    title: title.clone(),
                    kind: Some(CodeActionKind::QUICKFIX),
                    diagnostics: Some(vec![d.clone()]),
                    edit: Some(edit.clone()),
                    is_preferred: Some(true),
                    ..CodeAction::default()
                })
            })
            .collect();
        Ok(Some(actions))
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
