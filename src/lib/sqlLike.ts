import { sql, type RawBuilder, type SqlBool } from 'kysely';

// In a LIKE pattern `%` and `_` are wildcards: a value spliced into one
// unescaped lets `____` stand for any four characters (the billing doctor's
// `reference=____` matched another user's order). Every LIKE in Tally is built
// here: the value is escaped with a backslash and the ESCAPE character is
// named, because SQLite has no default escape character at all. It is bound as
// a parameter, so it reads the same whatever PostgreSQL's
// standard_conforming_strings says.

const ESCAPE = '\\';

/** `s` with the LIKE wildcards (and the escape character itself) taken literally. */
export const escapeLike = (s: string) => s.replace(/[\\%_]/g, (c) => ESCAPE + c);

const like = (column: string, pattern: string): RawBuilder<SqlBool> => sql<SqlBool>`${sql.ref(column)} like ${pattern} escape ${ESCAPE}`;

/** `column` starts with `prefix`, taken literally. */
export const likePrefix = (column: string, prefix: string) => like(column, `${escapeLike(prefix)}%`);
/** `column` ends with `suffix`, taken literally. */
export const likeSuffix = (column: string, suffix: string) => like(column, `%${escapeLike(suffix)}`);
/** `column` contains `part`, taken literally. */
export const likeContains = (column: string, part: string) => like(column, `%${escapeLike(part)}%`);
