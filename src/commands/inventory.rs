//! `tandem inventory import --from-ovh [--pair ...] [-o FILE]`: asks OVH for the account's
//! servers and failover IPs, and writes the inventory `inventory_import` renders (or, without
//! `--pair`, lists them).

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use super::inventory_import::{self as import, Account, OvhSource, PairSpec, SshSettings};
use crate::cli::{InventoryArgs, InventoryCommand, InventoryImportArgs};
use crate::error::Error;
use crate::ovh::{Client, ClientOptions, Credentials, Endpoint, OvhSettings, RetryPolicy};

pub async fn inventory(args: InventoryArgs) -> Result<ExitCode, Error> {
    match args.command {
        InventoryCommand::Import(args) => import_from_ovh(args).await,
    }
}

async fn import_from_ovh(args: InventoryImportArgs) -> Result<ExitCode, Error> {
    // Every flag is checked before OVH is asked anything.
    let pairs = args
        .pair
        .iter()
        .map(|p| PairSpec::parse(p))
        .collect::<Result<Vec<_>, _>>()
        .map_err(Error::Import)?;
    if let Some(path) = &args.output
        && path.exists()
        && !args.force
    {
        return Err(Error::OutputExists { path: path.clone() });
    }
    let endpoint = args
        .endpoint
        .as_deref()
        .map(Endpoint::parse)
        .transpose()
        .map_err(Error::EndpointFlag)?;
    let config = match &args.ovh_conf {
        Some(path) => Some(
            std::path::absolute(path).map_err(|source| Error::OvhConfPath {
                path: path.clone(),
                source,
            })?,
        ),
        None => None,
    };
    let settings = OvhSettings {
        endpoint,
        config: config.clone(),
    };
    let credentials = Credentials::load(&settings)?;
    let endpoint_name = credentials.endpoint.name().to_string();
    let client = Client::new(
        credentials,
        ClientOptions {
            request_timeout: Duration::from_secs(args.api.request_timeout),
            retry: RetryPolicy {
                base_delay: Duration::from_millis(args.api.retry_base_ms),
                ..RetryPolicy::default()
            },
        },
    )?;

    let account = match fetch(&client).await {
        Ok(account) => account,
        Err(e) if e.is_config() => return Err(Error::Ovh(e)),
        Err(e) => {
            eprintln!("tandem: error: reading the OVH account: {e}");
            return Ok(ExitCode::from(1));
        }
    };
    if pairs.is_empty() {
        print!("{}", import::listing(&account));
        eprintln!(
            "tandem: {} servers, {} failover IPs; pick the pairs with --pair NODE1,NODE2 to write \
             an inventory",
            account.servers.len(),
            account.ips.len()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let text = import::render(
        &account,
        &pairs,
        &SshSettings {
            user: args.ssh_user.clone(),
            identity: args.identity.clone(),
            known_hosts: args.known_hosts.clone(),
        },
        &OvhSource {
            endpoint: endpoint_name,
            config: config.map(|p| p.display().to_string()),
        },
    )
    .map_err(Error::Import)?;
    match &args.output {
        Some(path) => {
            write_file(path, &text)?;
            eprintln!(
                "tandem: wrote {} ({} clusters); try it: tandem ping -i {}",
                path.display(),
                pairs.len(),
                path.display()
            );
        }
        None => {
            let _ = std::io::stdout().write_all(text.as_bytes());
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn fetch(client: &Client) -> Result<Account, crate::ovh::OvhError> {
    let servers = client.dedicated_servers(&mut |_| {}).await?;
    let ips = client.failover_ips(&mut |_| {}).await?;
    Ok(Account { servers, ips })
}

fn write_file(path: &std::path::Path, text: &str) -> Result<(), Error> {
    std::fs::write(path, text).map_err(|source| Error::CannotWrite {
        flag: "-o",
        path: path.to_path_buf(),
        source,
    })
}
