-- Replica schema, version 14: this device's preferences.
--
-- What the engineer chose in the app's settings (the theme, the watched flows folder), by name.
-- Local to this device: preferences never sync, and a replica copied to another machine takes
-- them along as they were.
CREATE TABLE preferences (
    name TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);
