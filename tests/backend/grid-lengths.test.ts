/** Forward and backward on every (lq, lk) pair of the grid, up to (2048, 2048), every dtype of each device. */
import { gridSuite } from '../support/gridSuite.js';

gridSuite(['lengths'], import.meta.url);
