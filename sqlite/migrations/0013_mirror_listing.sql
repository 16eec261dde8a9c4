-- callvault mirror (issue 14): the version a listing named, kept with each
-- queued record id, so that two mirrors on one store never both fetch a
-- record (callvault.MirrorListingStore). listed_version is NULL for an id
-- queued without a listing (a change notification), which is fetched
-- whatever the store holds; listed_modified is the listing's
-- lastModifiedDateTime in unix nanoseconds. relisted is the due of an
-- enqueue that found the item claimed: settled done, the item is then due
-- again at it rather than removed.
ALTER TABLE mirror_queue ADD COLUMN listed_version INTEGER;
ALTER TABLE mirror_queue ADD COLUMN listed_modified INTEGER;
ALTER TABLE mirror_queue ADD COLUMN relisted INTEGER;
