/**
 * Forward and backward with softmaxScale other than the default: sharper, negative, zero and flatter scales, on
 * d = 256, 64, 128 and 96 with mixed masks and head ratios.
 */
import { gridSuite } from '../support/gridSuite.js';

gridSuite(['scales'], import.meta.url);
