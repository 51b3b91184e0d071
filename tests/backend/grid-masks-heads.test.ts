/**
 * Forward and backward on every mask kind (none, causal, (0,0), (-1,0), (3,3), left only, right only,
 * random windows) and every h/hk ratio (6/6, 6/3, 6/2, 6/1) with batch up to 4.
 */
import { gridSuite } from '../support/gridSuite.js';

gridSuite(['masks', 'heads'], import.meta.url);
