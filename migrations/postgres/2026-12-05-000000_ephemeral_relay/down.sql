DROP TABLE ephemeral_relay;
