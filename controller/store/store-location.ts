import { z } from 'zod';

const POSTGRES_URL = /^postgres(ql)?:\/\//;

/**
 * Where the controller keeps its state: `sqlite` (the default, `<data-dir>/state.db`) or a
 * PostgreSQL connection string, with the files TLS to that database needs. In controller.json as
 * `"store": "postgres://…"` or `"store": { "url": "postgres://…", "caFile": "…" }`.
 */
export const StoreLocation = z.union([
  z.literal('sqlite'),
  z.string().regex(POSTGRES_URL, 'must be "sqlite" or a postgres:// connection string'),
  z.strictObject({
    url: z.string().regex(POSTGRES_URL, 'must be a postgres:// connection string'),
    /** the CA that signed the database server's certificate (PEM); TLS is used when set */
    caFile: z.string().min(1).optional(),
    /** a client certificate and its key, when the server asks for one */
    certFile: z.string().min(1).optional(),
    keyFile: z.string().min(1).optional(),
    /** the name the server's certificate must carry, when not the URL's host */
    servername: z.string().min(1).optional(),
  }),
]);
export type StoreLocation = z.infer<typeof StoreLocation>;
