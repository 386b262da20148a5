//! The one diesel schema, shared by SQLite and PostgreSQL. Only SQL types the
//! MultiConnection derive supports: Text (ids, JSON), BigInt (Unix seconds), Bool.

diesel::table! {
    users (id) {
        id -> Text,
        username -> Text,
        username_normalized -> Text,
        email -> Text,
        display_name -> Text,
        password_hash -> Text,
        disabled -> Bool,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    clients (id) {
        id -> Text,
        display_name -> Text,
        secret_hash -> Nullable<Text>,
        public -> Bool,
        redirect_uris -> Text,
        post_logout_redirect_uris -> Text,
        mfa_policy -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    audit_events (id) {
        id -> BigInt,
        occurred_at -> BigInt,
        actor -> Text,
        user_id -> Nullable<Text>,
        event -> Text,
        client_id -> Nullable<Text>,
        ip -> Nullable<Text>,
        user_agent -> Nullable<Text>,
        detail -> Text,
    }
}
