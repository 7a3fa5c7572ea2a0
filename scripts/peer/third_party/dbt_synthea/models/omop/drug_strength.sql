SELECT * FROM {{ ref('stg_vocabulary__drug_strength') }}
