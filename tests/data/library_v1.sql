-- A vidsearch library at schema version 1 (migration m001_initial, clip vectors in vec0),
-- frozen: written once from the v1 schema with two videos (one ok, one failed), two clips
-- and two frames of 8-d vectors. Never regenerate it from today's migration code: it
-- stands for libraries already on users' disks. vec0's shadow tables are left out (its
-- CREATE VIRTUAL TABLE makes them); load with sqlite-vec loaded.
BEGIN;
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE videos (
            id INTEGER PRIMARY KEY,
            path TEXT NOT NULL UNIQUE,
            size INTEGER NOT NULL,
            mtime_ns INTEGER NOT NULL,
            content_hash TEXT,
            duration REAL,
            fps REAL,
            width INTEGER,
            height INTEGER,
            decode_strategy TEXT,
            status TEXT NOT NULL CHECK (status IN ('ok', 'error')),
            error TEXT,
            indexed_at REAL NOT NULL
        );
CREATE INDEX videos_content_hash ON videos(content_hash);
CREATE TABLE frames (
            id INTEGER PRIMARY KEY,
            video_id INTEGER NOT NULL REFERENCES videos(id) ON DELETE CASCADE,
            t REAL NOT NULL
        );
CREATE INDEX frames_video_t ON frames(video_id, t);
CREATE TABLE clips (
            id INTEGER PRIMARY KEY,
            video_id INTEGER NOT NULL REFERENCES videos(id) ON DELETE CASCADE,
            start REAL NOT NULL,
            end REAL NOT NULL
        );
CREATE INDEX clips_video ON clips(video_id, start);
CREATE TABLE migrations (name TEXT PRIMARY KEY, applied_at REAL NOT NULL);
CREATE VIRTUAL TABLE clip_vec USING vec0(embedding float[8] distance_metric=cosine);
CREATE VIRTUAL TABLE frame_vec USING vec0(embedding float[8] distance_metric=cosine);
INSERT INTO meta(key, value) VALUES ('schema_version', '1');
INSERT INTO meta(key, value) VALUES ('model_fingerprint', 'fp-a');
INSERT INTO meta(key, value) VALUES ('model_name', 'model-a');
INSERT INTO meta(key, value) VALUES ('vector_dim', '8');
INSERT INTO videos(id, path, size, mtime_ns, content_hash, duration, fps, width, height, decode_strategy, status, error, indexed_at) VALUES (7, '/v/old.mp4', 1, 1, NULL, 10.0, NULL, NULL, NULL, NULL, 'ok', NULL, 0.0);
INSERT INTO videos(id, path, size, mtime_ns, content_hash, duration, fps, width, height, decode_strategy, status, error, indexed_at) VALUES (8, '/v/broken.mp4', 2, 2, 'h8', NULL, NULL, NULL, NULL, NULL, 'error', 'no frames could be decoded', 0.0);
INSERT INTO frames(id, video_id, t) VALUES (1, 7, 0.0);
INSERT INTO frames(id, video_id, t) VALUES (2, 7, 1.0);
INSERT INTO clips(id, video_id, start, end) VALUES (1, 7, 0.0, 10.0);
INSERT INTO clips(id, video_id, start, end) VALUES (2, 7, 5.0, 15.0);
INSERT INTO migrations(name, applied_at) VALUES ('m001_initial', 0.0);
INSERT INTO clip_vec(rowid, embedding) VALUES (1, X'F3FF863C6AC4273F871B173F62D97BBE290E13BE792382BE46968C3E7E5ADDBC');
INSERT INTO clip_vec(rowid, embedding) VALUES (2, X'478E1ABB9808B93E932A833E370C803E7E280F3FC83AD5BE28C85DBEA796E9BE');
INSERT INTO frame_vec(rowid, embedding) VALUES (1, X'8E2A80BE3B0325BF67B7433EAA74713E26EEC8BD1953EE3D7DB70A3FEB10AC3E');
INSERT INTO frame_vec(rowid, embedding) VALUES (2, X'3C024E3EDC23323FD34B9D3E83D2B1BE9D7443BEFCC48D3EAC6E67BC0F4DC43E');
COMMIT;
