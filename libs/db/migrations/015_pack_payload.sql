-- The bytes of the blobs a pack was written with: its size less its own index and footer. A pack's
-- live fraction (gc's repack rule) is taken against these, not the object's size, or a pack of tiny
-- blobs, mostly index, looks mostly dead however live it is and is repacked by every gc.
-- NULL for packs recorded before: their size stands in, and their next repack records it.
ALTER TABLE target_packs ADD COLUMN payload bigint;
