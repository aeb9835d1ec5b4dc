//! `zoneguard api token`: a new random API token and its config line.

use std::process::ExitCode;

use clap::{Args, Subcommand};

use zoneguard::api::auth;
use zoneguard::config::ApiRole;

/// Arguments of `api`.
#[derive(Debug, Args)]
pub struct ApiArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: ApiCommand,
}

/// REST API tools (接口工具).
#[derive(Debug, Subcommand)]
pub enum ApiCommand {
    /// Print a new random bearer token and the api.tokens line holding its
    /// SHA-256 (生成接口令牌). The token itself is not stored anywhere.
    Token {
        /// Who will hold the token (the actor in the audit log).
        #[arg(long, default_value = "operator")]
        name: String,
        /// viewer, responder or admin.
        #[arg(long, default_value = "viewer")]
        role: String,
    },
}

pub fn run(a: ApiArgs) -> anyhow::Result<ExitCode> {
    match a.command {
        ApiCommand::Token { name, role } => {
            let role = ApiRole::parse(&role).ok_or_else(|| {
                anyhow::anyhow!(
                    "--role: unknown role '{role}' (viewer, responder, admin) / 未知角色"
                )
            })?;
            if name.trim().is_empty() || name.chars().any(char::is_control) {
                anyhow::bail!("--name: must be a non-empty single line / 名称不能为空");
            }
            let token = auth::new_token()
                .map_err(|e| anyhow::anyhow!("no randomness from the OS / 无法获取随机数: {e}"))?;
            println!("token / 令牌 (give it to {name}; it is shown only once / 仅显示一次):");
            println!("  {token}");
            println!("config line for api.tokens / 写入配置 api.tokens:");
            println!("  {}", auth::config_line(&name, role, &token));
            Ok(ExitCode::SUCCESS)
        }
    }
}
