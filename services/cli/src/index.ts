import { hello } from '@fleet-backup/core';
console.log(hello(1), process.version);
