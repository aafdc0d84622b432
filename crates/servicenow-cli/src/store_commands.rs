//! `sn store status|rotate-key|new-key`: where the token store's sealing key is, rotating it, and
//! making a key set for a deployment's secret manager.

use std::io::Write as _;

use servicenow::{store::Keyring, stores};

use crate::{
    cli::{GlobalArgs, StoreCommand},
    failure::{CliError, CliResult},
    keys,
    output::say,
};

/// Runs one `sn store` command.
pub(crate) async fn run(global: &GlobalArgs, command: &StoreCommand) -> CliResult<()> {
    match command {
        StoreCommand::NewKey => new_key(),
        StoreCommand::Status => status(global).await,
        StoreCommand::RotateKey => rotate_key(global).await,
    }
}

async fn open(global: &GlobalArgs) -> CliResult<(std::path::PathBuf, stores::Store)> {
    let store_dir = match &global.store_dir {
        Some(directory) => directory.clone(),
        None => stores::default_directory().map_err(CliError::from_client)?,
    };
    let source = keys::key_source(global.key_source.as_ref(), &store_dir);
    let store = keys::open_store(&store_dir, source).await?;
    Ok((store_dir, store))
}

async fn status(global: &GlobalArgs) -> CliResult<()> {
    let (store_dir, store) = open(global).await?;
    let in_use = store
        .key_ids_in_use()
        .await
        .map_err(CliError::from_client)?;
    let described: Vec<String> = in_use
        .iter()
        .map(|(id, count)| format!("key {id}: {count} value(s)"))
        .collect();
    say(&format!(
        "store:     {}\nkey:       {}\nsealed:    {}",
        store_dir.display(),
        store.key_source(),
        if described.is_empty() {
            "nothing stored yet".to_owned()
        } else {
            described.join(", ")
        }
    ));
    Ok(())
}

async fn rotate_key(global: &GlobalArgs) -> CliResult<()> {
    let (store_dir, store) = open(global).await?;
    let rotation = store.rotate_key().await.map_err(|error| {
        CliError::local(
            format!("the key rotation did not finish: {error}"),
            Some(
                "every value is still readable with the keys in the key source; run `sn store \
                 rotate-key` again to finish"
                    .to_owned(),
            ),
        )
    })?;
    let retired = if rotation.retired_key_ids.is_empty() {
        "no key was retired (some values still need an older key; they are re-sealed at their \
         next save)"
            .to_owned()
    } else {
        format!(
            "retired key(s) {}",
            rotation
                .retired_key_ids
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    say(&format!(
        "Rotated the sealing key of {} in {}: {} value(s) re-sealed under key {}; {retired}.",
        store_dir.display(),
        store.key_source(),
        rotation.resealed,
        rotation.new_key_id
    ));
    Ok(())
}

fn new_key() -> CliResult<()> {
    let keyring = Keyring::generate()
        .map_err(|error| CliError::local(format!("cannot make a key: {error}"), None))?;
    let text = keyring.to_key_set_text();
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|error| CliError::local(format!("cannot print the key: {error}"), None))?;
    eprintln!(
        "This is key material: put it into your secret manager as SN_STORE_KEY (or a file named by \
         SN_STORE_KEY_FILE, mode 0600) and keep it out of shell history and logs."
    );
    Ok(())
}
