//! A demo MCP server for the tests: rmcp's server over stdio (a test binary that runs
//! itself with `MCP_DEMO_SERVER=stdio`) or streamable HTTP in process.
//!
//! Tools: `echo` (read-only), `touch` (writes), `picture` (text and an image), `crash`
//! (exits mid-call, saying so on stderr), `pid`, and `badschema` (a non-object schema).
//! `DEMO_FAIL_START` makes the stdio server fail before its handshake.
#![allow(dead_code)] // each test binary uses a different part of it

use std::sync::Arc;

use axum::response::IntoResponse;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ErrorData,
    InitializeResult, ListToolsResult, PaginatedRequestParams, ServerCapabilities, Tool,
    ToolAnnotations,
};
use rmcp::service::RequestContext;
use rmcp::{RoleServer, ServerHandler, ServiceExt};
use serde_json::{json, Value};

/// A 1×1 PNG.
pub const DOT: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==";

// ---------------------------------------------------------------- the demo server

#[derive(Clone)]
struct Demo;

fn schema(v: Value) -> Arc<serde_json::Map<String, Value>> {
    Arc::new(v.as_object().cloned().unwrap_or_default())
}

fn demo_tools() -> Vec<Tool> {
    let text =
        json!({"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]});
    let none = json!({"type": "object", "properties": {}});
    let ro = || ToolAnnotations::new().read_only(true);
    vec![
        Tool::new("echo", "Says the text back", schema(text)).annotate(ro()),
        Tool::new("touch", "Changes something", schema(none.clone())),
        Tool::new("picture", "Draws a dot", schema(none.clone())).annotate(ro()),
        Tool::new("crash", "Exits mid-call", schema(none.clone())),
        Tool::new("pid", "Its process id", schema(none)).annotate(ro()),
        Tool::new(
            "getenv",
            "An environment variable",
            schema(json!({"type": "object", "properties": {"name": {"type": "string"}}})),
        )
        .annotate(ro()),
        Tool::new(
            "badschema",
            "Takes a bare string",
            schema(json!({"type": "string"})),
        ),
    ]
}

impl ServerHandler for Demo {
    fn get_info(&self) -> InitializeResult {
        InitializeResult::new(ServerCapabilities::builder().enable_tools().build())
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(demo_tools()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let arg = |k: &str| {
            request
                .arguments
                .as_ref()
                .and_then(|a| a.get(k))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let result = match request.name.as_ref() {
            "echo" => {
                CallToolResult::success(vec![ContentBlock::text(format!("echo: {}", arg("text")))])
            }
            "touch" => CallToolResult::success(vec![ContentBlock::text("touched")]),
            "picture" => CallToolResult::success(vec![
                ContentBlock::text("a dot"),
                ContentBlock::image(DOT, "image/png"),
            ]),
            "getenv" => CallToolResult::success(vec![ContentBlock::text(
                std::env::var(arg("name")).unwrap_or_else(|_| "(unset)".into()),
            )]),
            "pid" => {
                CallToolResult::success(vec![ContentBlock::text(std::process::id().to_string())])
            }
            "crash" => {
                eprintln!("demo server: crashing as asked");
                std::process::exit(3);
            }
            other => CallToolResult::error(vec![ContentBlock::text(format!("no tool {other}"))]),
        };
        Ok(result.into())
    }
}

pub fn serve_stdio() {
    if std::env::var("DEMO_FAIL_START").is_ok() {
        eprintln!("demo server: cannot open the demo database");
        std::process::exit(1);
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let running = Demo.serve(rmcp::transport::stdio()).await.unwrap();
        let _ = running.waiting().await;
    });
}

/// The demo server over streamable HTTP at `http://127.0.0.1:PORT/mcp`; with `auth`,
/// it refuses requests whose `Authorization` is not that.
pub async fn serve_http(auth: Option<&'static str>) -> String {
    use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
    use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
    let service = StreamableHttpService::new(
        || Ok(Demo),
        Arc::new(LocalSessionManager::default()),
        StreamableHttpServerConfig::default(),
    );
    let app = axum::Router::new()
        .nest_service("/mcp", service)
        .layer(axum::middleware::from_fn(
            move |req: axum::extract::Request, next: axum::middleware::Next| async move {
                let ok = req
                    .headers()
                    .get("authorization")
                    .is_some_and(|v| Some(v.as_bytes()) == auth.map(str::as_bytes))
                    || auth.is_none();
                if ok {
                    next.run(req).await
                } else {
                    axum::http::StatusCode::UNAUTHORIZED.into_response()
                }
            },
        ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        // Without TCP_NODELAY, delayed ACKs add 40 ms to each answer on loopback.
        use axum::serve::ListenerExt;
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}/mcp")
}
