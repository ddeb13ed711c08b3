-- Run once by the postgres image when its volume is empty (docker-entrypoint-initdb.d), as
-- POSTGRES_USER, after it created POSTGRES_DB (runs, metrics, the registry). Basic auth keeps
-- its users and permissions in a database of their own: its migrations and the tracking
-- schema's would collide in one. compose.yaml points MLFLOW_AUTH_DATABASE_URI at it.
CREATE DATABASE mlflow_auth;
