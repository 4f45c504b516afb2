// A stand-in for CloudFront Functions' `cloudfront` module (runtime cloudfront-js-2.0),
// installed by tests/cloudfront_function.rs as node_modules/cloudfront for the function
// under test. Only the key value store part: `cf.kvs(id)` returns a handle whose `get`
// resolves to the value of a key held in the JSON map the runner puts in
// globalThis.cloudfrontStandIn, and rejects for a missing key, as CloudFront's does
// (https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/functions-custom-methods.html).
// `fail` makes every call reject, as a store that cannot be read.

function state() {
  const s = globalThis.cloudfrontStandIn;
  if (!s) throw new Error('the runner sets globalThis.cloudfrontStandIn before importing the function');
  return s;
}

function handle(id) {
  return {
    async get(key, options) {
      const s = state();
      s.gets.push(key);
      if (s.fail) throw new Error('KeyValueStore unavailable (stand-in)');
      const format = (options && options.format) || 'string';
      if (!Object.prototype.hasOwnProperty.call(s.data, key)) {
        throw new Error('Key ' + key + ' not found (stand-in)');
      }
      const value = s.data[key];
      if (format === 'json') return JSON.parse(value);
      if (format === 'bytes') return Buffer.from(value, 'utf8');
      return value;
    },
    async exists(key) {
      const s = state();
      if (s.fail) throw new Error('KeyValueStore unavailable (stand-in)');
      return Object.prototype.hasOwnProperty.call(s.data, key);
    },
    async meta() {
      return { creationDateTime: '2024-01-01T00:00:00Z', lastUpdatedDateTime: '2024-01-01T00:00:00Z', keyCount: Object.keys(state().data).length };
    },
  };
}

export default {
  kvs(id) {
    state().handles.push(id === undefined ? null : id);
    return handle(id);
  },
};
