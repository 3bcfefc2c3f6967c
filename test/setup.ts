// Test setup shared by every test file.
process.env.AWS_SDK_JS_SUPPRESS_MAINTENANCE_MODE_MESSAGE = '1';

import '../lib/local/polyfills.ts';
