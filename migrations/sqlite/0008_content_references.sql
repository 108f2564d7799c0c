-- What enrolled content looks like: small references of the picture, or of a video's key
-- frames (watermark::binding), sealed under the creator's data key like every personal
-- field, so that a mark copied onto other media is not taken for the content. Erased with it.
ALTER TABLE contents ADD COLUMN reference_enc BLOB;
