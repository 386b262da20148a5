-- The language a person chose with the language switch (a catalogue tag such as zh-CN);
-- NULL until they choose. Pages and mails use it before the browser's Accept-Language.
ALTER TABLE users ADD COLUMN locale TEXT;
