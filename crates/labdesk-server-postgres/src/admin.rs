//! Labs, users, workstations and tokens: who may sync, and signing in.

use deadpool_postgres::{GenericClient, Pool};
use labdesk_server_database::{
    check_name, check_workstation_code, new_token, token_hash, Added, Identity, IssuedToken, Lab, Result, Role,
    StoreError, User, Workstation,
};
use uuid::Uuid;

use crate::error::{corrupt, db, pool as pool_error};

pub(crate) async fn authenticate(pool: &Pool, token: &str) -> Result<Option<Identity>> {
    let client = pool.get().await.map_err(pool_error)?;
    let statement = client
        .prepare_cached(
            "SELECT u.id, u.name, u.role, l.id, l.name, w.id, w.code, u.disabled_at IS NOT NULL \
               FROM tokens t JOIN users u ON u.id = t.user_id JOIN labs l ON l.id = u.lab_id \
               JOIN workstations w ON w.id = t.workstation_id \
              WHERE t.sha256 = $1 AND t.revoked_at IS NULL",
        )
        .await
        .map_err(db)?;
    let hash = token_hash(token);
    let Some(row) = client.query_opt(&statement, &[&&hash[..]]).await.map_err(db)? else {
        return Ok(None);
    };
    let role: String = row.get(2);
    Ok(Some(Identity {
        user_id: row.get(0),
        user_name: row.get(1),
        role: role.parse().map_err(|_| corrupt(format!("a user has the unknown role '{role}'")))?,
        lab_id: row.get(3),
        lab_name: row.get(4),
        workstation_id: row.get(5),
        workstation_code: row.get(6),
        user_disabled: row.get(7),
    }))
}

async fn find_lab(client: &impl GenericClient, name: &str) -> Result<Option<Lab>> {
    let row = client.query_opt("SELECT id, name FROM labs WHERE name = $1", &[&name]).await.map_err(db)?;
    Ok(row.map(|row| Lab { id: row.get(0), name: row.get(1) }))
}

async fn lab(client: &impl GenericClient, name: &str) -> Result<Lab> {
    find_lab(client, name).await?.ok_or_else(|| StoreError::NoLab(name.to_owned()))
}

pub(crate) async fn lab_named(pool: &Pool, name: &str) -> Result<Lab> {
    let client = pool.get().await.map_err(pool_error)?;
    lab(&client, name).await
}

pub(crate) async fn labs(pool: &Pool) -> Result<Vec<Lab>> {
    let client = pool.get().await.map_err(pool_error)?;
    let rows = client.query("SELECT id, name FROM labs ORDER BY name", &[]).await.map_err(db)?;
    Ok(rows.iter().map(|row| Lab { id: row.get(0), name: row.get(1) }).collect())
}

pub(crate) async fn add_lab(pool: &Pool, name: &str) -> Result<Added<Lab>> {
    check_name("lab", name)?;
    let client = pool.get().await.map_err(pool_error)?;
    let id = Uuid::now_v7();
    let inserted = client
        .execute("INSERT INTO labs (id, name) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING", &[&id, &name])
        .await
        .map_err(db)?;
    let lab = lab(&client, name).await?;
    Ok(if inserted == 1 { Added::New(lab) } else { Added::Existing(lab) })
}

async fn find_user(client: &impl GenericClient, name: &str) -> Result<Option<User>> {
    let row = client
        .query_opt(
            "SELECT u.id, u.name, u.role, l.id, l.name, u.disabled_at IS NOT NULL \
               FROM users u JOIN labs l ON l.id = u.lab_id WHERE u.name = $1",
            &[&name],
        )
        .await
        .map_err(db)?;
    let Some(row) = row else { return Ok(None) };
    let role: String = row.get(2);
    Ok(Some(User {
        id: row.get(0),
        name: row.get(1),
        role: role.parse().map_err(|_| corrupt(format!("user {name} has the unknown role '{role}'")))?,
        lab: Lab { id: row.get(3), name: row.get(4) },
        disabled: row.get(5),
    }))
}

async fn user(client: &impl GenericClient, name: &str) -> Result<User> {
    find_user(client, name).await?.ok_or_else(|| StoreError::NoUser(name.to_owned()))
}

pub(crate) async fn add_user(pool: &Pool, lab_name: &str, name: &str, role: Option<Role>) -> Result<Added<User>> {
    check_name("user", name)?;
    let client = pool.get().await.map_err(pool_error)?;
    let lab = lab(&client, lab_name).await?;
    let id = Uuid::now_v7();
    let inserted = client
        .execute(
            "INSERT INTO users (id, lab_id, name, role) VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO NOTHING",
            &[&id, &lab.id, &name, &role.unwrap_or(Role::Technician).as_str()],
        )
        .await
        .map_err(db)?;
    let user = user(&client, name).await?;
    if inserted == 1 {
        return Ok(Added::New(user));
    }
    if user.lab.id != lab.id {
        return Err(StoreError::Invalid(format!(
            "a user named {name} exists already, in lab {}: user names are unique across labs, so pick another name",
            user.lab.name
        )));
    }
    if let Some(role) = role {
        if role != user.role {
            return Err(StoreError::Invalid(format!(
                "the user {name} exists already, as a {}, not a {role}: leave out --role to keep it",
                user.role
            )));
        }
    }
    Ok(Added::Existing(user))
}

async fn find_workstation(client: &impl GenericClient, code: &str) -> Result<Option<Workstation>> {
    let row = client
        .query_opt(
            "SELECT w.id, w.code, l.id, l.name FROM workstations w JOIN labs l ON l.id = w.lab_id WHERE w.code = $1",
            &[&code],
        )
        .await
        .map_err(db)?;
    Ok(row.map(|row| Workstation { id: row.get(0), code: row.get(1), lab: Lab { id: row.get(2), name: row.get(3) } }))
}

pub(crate) async fn add_workstation(pool: &Pool, lab_name: &str, code: &str) -> Result<Added<Workstation>> {
    check_workstation_code(code)?;
    let client = pool.get().await.map_err(pool_error)?;
    let lab = lab(&client, lab_name).await?;
    let id = Uuid::now_v7();
    let inserted = client
        .execute(
            "INSERT INTO workstations (id, lab_id, code) VALUES ($1, $2, $3) ON CONFLICT (code) DO NOTHING",
            &[&id, &lab.id, &code],
        )
        .await
        .map_err(db)?;
    let workstation = find_workstation(&client, code)
        .await?
        .ok_or_else(|| corrupt(format!("workstation {code} was registered but cannot be found")))?;
    if inserted == 1 {
        return Ok(Added::New(workstation));
    }
    if workstation.lab.id != lab.id {
        return Err(StoreError::Invalid(format!(
            "the workstation code {code} is registered to lab {} already: codes are unique across labs, since every \
             case number starts with one; pick another code",
            workstation.lab.name
        )));
    }
    Ok(Added::Existing(workstation))
}

pub(crate) async fn issue_token(pool: &Pool, user_name: &str, code: &str) -> Result<IssuedToken> {
    let client = pool.get().await.map_err(pool_error)?;
    let user = user(&client, user_name).await?;
    let workstation =
        find_workstation(&client, code).await?.ok_or_else(|| StoreError::NoWorkstation(code.to_owned()))?;
    if user.lab.id != workstation.lab.id {
        return Err(StoreError::Invalid(format!(
            "the user {user_name} belongs to lab {} but the workstation {code} to lab {}: a token joins a user and a \
             workstation of the same lab",
            user.lab.name, workstation.lab.name
        )));
    }
    let token = new_token();
    let hash = token_hash(&token);
    client
        .execute(
            "INSERT INTO tokens (sha256, user_id, workstation_id) VALUES ($1, $2, $3)",
            &[&&hash[..], &user.id, &workstation.id],
        )
        .await
        .map_err(db)?;
    Ok(IssuedToken { token, user: user.name, workstation: workstation.code, lab: user.lab.name })
}

pub(crate) async fn revoke_tokens(pool: &Pool, user_name: &str, code: Option<&str>) -> Result<u64> {
    let client = pool.get().await.map_err(pool_error)?;
    let user = user(&client, user_name).await?;
    let workstation = match code {
        Some(code) => {
            Some(find_workstation(&client, code).await?.ok_or_else(|| StoreError::NoWorkstation(code.to_owned()))?.id)
        }
        None => None,
    };
    client
        .execute(
            "UPDATE tokens SET revoked_at = now() WHERE user_id = $1 AND ($2::uuid IS NULL OR workstation_id = $2) \
             AND revoked_at IS NULL",
            &[&user.id, &workstation],
        )
        .await
        .map_err(db)
}

pub(crate) async fn set_user_disabled(pool: &Pool, user_name: &str, disabled: bool) -> Result<User> {
    let client = pool.get().await.map_err(pool_error)?;
    let updated = client
        .execute(
            "UPDATE users SET disabled_at = CASE WHEN $2 THEN coalesce(disabled_at, now()) END WHERE name = $1",
            &[&user_name, &disabled],
        )
        .await
        .map_err(db)?;
    if updated == 0 {
        return Err(StoreError::NoUser(user_name.to_owned()));
    }
    user(&client, user_name).await
}
