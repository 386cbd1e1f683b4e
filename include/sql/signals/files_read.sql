-- The drop files of a provider already read and not to read again while unchanged.
SELECT path, fingerprint
FROM signals.provider_files
WHERE provider = %(provider)s AND status IN ('ingested', 'refused') AND path = any(%(paths)s);
