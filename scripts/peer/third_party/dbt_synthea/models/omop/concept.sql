SELECT * FROM {{ ref('stg_vocabulary__concept') }}
