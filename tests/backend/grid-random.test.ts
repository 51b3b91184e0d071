/** Forward and backward on seeded random combinations drawn from the whole grid product, every dtype of each device. */
import { gridSuite } from '../support/gridSuite.js';

gridSuite(['random'], import.meta.url);
