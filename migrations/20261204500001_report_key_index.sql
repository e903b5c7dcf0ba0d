-- Stored reports are looked up by their blob key: to bound their
-- decompression by the size of the artifact they describe, and by the
-- garbage collector to tell referenced blobs from orphans.
CREATE INDEX measurements_report_key ON measurements (report_key);
