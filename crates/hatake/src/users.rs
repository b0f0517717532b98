//! `hatake user add` and `hatake user list`.

use crate::cli::UserCommand;
use crate::config::{self, ServeArgs, DEFAULT_DATA_DIR};
use anyhow::{anyhow, Context};
use hatake_domain::NewUser;

pub async fn run(command: UserCommand) -> anyhow::Result<()> {
    match command {
        UserCommand::Add { store, email, name, role, password } => {
            let settings = config::resolve(&store, &ServeArgs::default(), DEFAULT_DATA_DIR)?;
            let generated = password.is_none();
            let password = password.unwrap_or_else(|| hatake_web::auth::random_token()[..20].to_owned());
            let name = name.unwrap_or_else(|| email.split('@').next().unwrap_or(&email).to_owned());
            let user = NewUser::parse(&email, &name, &role, &password).map_err(|errors| {
                let lines: Vec<String> =
                    errors.0.iter().map(|e| format!("  --{}: {}", e.field.replace('_', "-"), e.message_en)).collect();
                anyhow!("the user was not added:\n{}", lines.join("\n"))
            })?;
            let store = crate::open_store(&settings.database).await?;
            let hash = hatake_web::auth::hash_password(&password).map_err(|e| anyhow!("hashing failed: {e}"))?;
            let row = store.create_user(&user, &hash, hatake_web::now_millis()).await.map_err(|error| match error {
                hatake_store::StoreError::Conflict { .. } => {
                    anyhow!("a user with e-mail {} already exists", user.email)
                }
                other => anyhow!(other),
            })?;
            println!("Added {} <{}> as {} (id {}).", row.display_name, row.email, row.role, row.id);
            if generated {
                println!("Password (shown only now): {password}");
            }
            Ok(())
        }
        UserCommand::SetPassword { store, email, password } => {
            let settings = config::resolve(&store, &ServeArgs::default(), DEFAULT_DATA_DIR)?;
            let generated = password.is_none();
            let password = password.unwrap_or_else(|| hatake_web::auth::random_token()[..20].to_owned());
            hatake_domain::user::check_password(&password).map_err(|e| anyhow!("--password: {}", e.message_en))?;
            let store = crate::open_store(&settings.database).await?;
            let user = store.find_user_by_email(&email).await?.ok_or_else(|| anyhow!("no user has e-mail {email}"))?;
            let hash = hatake_web::auth::hash_password(&password).map_err(|e| anyhow!("hashing failed: {e}"))?;
            store.set_user_password(user.id, &hash, hatake_web::now_millis()).await?;
            store.delete_user_sessions(user.id).await?;
            println!("Set the password of {} <{}>; their sessions are closed.", user.display_name, user.email);
            if generated {
                println!("Password (shown only now): {password}");
            }
            Ok(())
        }
        UserCommand::List { store } => {
            let settings = config::resolve(&store, &ServeArgs::default(), DEFAULT_DATA_DIR)?;
            let store = crate::open_store(&settings.database).await?;
            let users = store.list_users().await.context("cannot list users")?;
            println!("{:>4}  {:<12}  {:<6}  {:<32}  name", "id", "role", "active", "e-mail");
            for user in users {
                println!(
                    "{:>4}  {:<12}  {:<6}  {:<32}  {}",
                    user.id,
                    user.role,
                    if user.active { "yes" } else { "no" },
                    user.email,
                    user.display_name
                );
            }
            Ok(())
        }
    }
}
