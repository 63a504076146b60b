DROP TABLE linked_identities;
DROP TABLE identity_providers;
