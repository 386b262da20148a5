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
        locale -> Nullable<Text>,
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
        id_token_signed_response_alg -> Text,
        scopes -> Text,
        offline_access -> Bool,
        introspect -> Bool,
    }
}

diesel::table! {
    client_resources (uri) {
        uri -> Text,
        client_id -> Text,
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

diesel::table! {
    sso_sessions (id) {
        id -> Text,
        token_hash -> Text,
        user_id -> Text,
        created_at -> BigInt,
        last_seen_at -> BigInt,
        expires_at -> BigInt,
        auth_time -> BigInt,
        password_verified_at -> BigInt,
        second_factor_verified_at -> Nullable<BigInt>,
        second_factor_method -> Nullable<Text>,
        ip -> Nullable<Text>,
        user_agent -> Nullable<Text>,
    }
}

diesel::table! {
    refresh_tokens (id) {
        id -> Text,
        token_hash -> Text,
        family_id -> Text,
        client_id -> Text,
        user_id -> Text,
        session_id -> Nullable<Text>,
        scope -> Text,
        auth_time -> BigInt,
        acr -> Text,
        amr -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
        used_at -> Nullable<BigInt>,
        revoked_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    signing_keys (kid) {
        kid -> Text,
        alg -> Text,
        private_key -> Text,
        public_jwk -> Text,
        created_at -> BigInt,
        retired_at -> Nullable<BigInt>,
        signs_from -> Nullable<BigInt>,
    }
}

diesel::table! {
    totp_bindings (user_id) {
        user_id -> Text,
        secret -> Text,
        last_step -> Nullable<BigInt>,
        created_at -> BigInt,
        sealed_for_owner -> Bool,
    }
}

diesel::table! {
    second_factor_methods (user_id, method) {
        user_id -> Text,
        method -> Text,
        phone -> Nullable<Text>,
        created_at -> BigInt,
    }
}

diesel::table! {
    second_factor_preferences (user_id) {
        user_id -> Text,
        method -> Text,
        updated_at -> BigInt,
    }
}

diesel::table! {
    recovery_codes (id) {
        id -> Text,
        user_id -> Text,
        code_hash -> Text,
        created_at -> BigInt,
        used_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    mfa_reset_requests (id) {
        id -> Text,
        user_id -> Text,
        status -> Text,
        created_at -> BigInt,
        decided_at -> Nullable<BigInt>,
        ip -> Nullable<Text>,
        user_agent -> Nullable<Text>,
    }
}

diesel::joinable!(client_resources -> clients (client_id));
diesel::joinable!(sso_sessions -> users (user_id));
diesel::joinable!(mfa_reset_requests -> users (user_id));
diesel::allow_tables_to_appear_in_same_query!(
    users,
    clients,
    client_resources,
    audit_events,
    sso_sessions,
    refresh_tokens,
    signing_keys,
    totp_bindings,
    second_factor_methods,
    second_factor_preferences,
    recovery_codes,
    mfa_reset_requests
);

diesel::table! {
    ephemeral_relay (id) {
        id -> BigInt,
        store_key -> Text,
        value -> Nullable<Binary>,
        expires_at -> BigInt,
    }
}
