//! The `ferrocast` binary: parses the command line, sets up logging, and runs the command.

use clap::Parser;
use ferrocast::cli::{Cli, Command, ServeArgs};
use ferrocast::config::{Config, LogFormat};
use ferrocast::Server;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => serve(args).await,
        Command::Publish(args) => ferrocast::cli::publish::run(args).await,
        Command::Apps(args) => ferrocast::cli::apps::run(args).await,
        Command::Config(args) => ferrocast::cli::config_print::run(args),
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let config = args.load()?;
    init_logging(&config);
    let signals = Signals::install()?;
    let server = Server::bind(config.clone()).await?;
    print_banner(&config, &server)?;
    server.run(signals.shutdown()).await?;
    Ok(())
}

fn init_logging(config: &Config) {
    let filter = EnvFilter::try_new(&config.log).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match config.log_format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

/// Prints where the server listens and how to connect. Only the built-in default app's secret
/// is printed (it is public anyway); configured secrets never are.
fn print_banner(config: &Config, server: &Server) -> anyhow::Result<()> {
    let addr = server.local_addr()?;
    let (http, ws, tls) = if server.is_tls() {
        ("https", "wss", "true")
    } else {
        ("http", "ws", "false")
    };
    println!("Ferrocast listening on {http}://{addr}");
    println!("Metrics, health and usage on http://{}", server.ops_addr()?);
    let port = addr.port();
    for app in &config.apps {
        let secret = if app.is_builtin_default() {
            app.secret.as_str()
        } else {
            "(hidden)"
        };
        println!("App  id: {}  key: {}  secret: {secret}", app.id, app.key);
    }
    if let Some(app) = config.apps.first() {
        println!("\nConnect with pusher-js:\n");
        println!(
            "  const pusher = new Pusher('{}', {{ cluster: 'mt1', wsHost: '127.0.0.1', wsPort: {port}, \
             wssPort: {port}, forceTLS: {tls}, enabledTransports: ['{ws}'] }});",
            app.key
        );
        println!(
            "  pusher.subscribe('my-channel').bind('my-event', (data) => console.log(data));\n"
        );
        println!(
            "Publish:  ferrocast publish --url {http}://127.0.0.1:{port} --channel my-channel --event my-event --data '{{\"hello\":\"world\"}}'\n"
        );
    }
    Ok(())
}

/// SIGINT and SIGTERM, registered at start so a signal that arrives early is never handled by
/// the default action (which would kill the process without a drain).
struct Signals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> std::io::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Ok(Self {
                term: signal(SignalKind::terminate())?,
                int: signal(SignalKind::interrupt())?,
            })
        }
        #[cfg(not(unix))]
        Ok(Self {})
    }

    async fn next(&mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    }

    /// Resolves on the first signal; a second one exits at once.
    async fn shutdown(mut self) {
        self.next().await;
        tokio::spawn(async move {
            self.next().await;
            eprintln!("second signal: exiting now");
            std::process::exit(130);
        });
    }
}
