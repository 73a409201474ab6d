package townhall

import "context"

// OpenSQLite lets external tests wrap the embedded metadata store.
var OpenSQLite = func(ctx context.Context, path string) (Metadata, error) { return openSQLite(ctx, path) }
